//! `name:type` field specs of `zzz gen model` and `zzz gen resource`, and what each type
//! becomes: a Rust type, a migration column, a form input and test values.

use crate::names::{check_item_name, is_snake};

/// A field's type, as Ecto's generators name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    /// `string`: `String`, `varchar(255)` on Postgres.
    String,
    /// `text`: `String`, unbounded text.
    Text,
    /// `integer`: `i64`.
    Integer,
    /// `float`: `f64`.
    Float,
    /// `boolean`: `bool`.
    Boolean,
    /// `date`: `chrono::NaiveDate`.
    Date,
    /// `datetime`: `chrono::NaiveDateTime`.
    DateTime,
    /// `references:TABLE`: an `i64` foreign key to `TABLE`.
    References(String),
}

/// One `name:type` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The column and struct field name.
    pub name: String,
    /// Its type.
    pub ty: FieldType,
}

/// The types `name:type` accepts, for messages.
pub const TYPES: &str = "string, text, integer, float, boolean, date, datetime, references:TABLE";

/// Parses `title:string`, `post_id:references:posts`.
///
/// # Errors
/// A message naming the spec and what is wrong with it.
pub fn parse(spec: &str) -> Result<Field, String> {
    let mut parts = spec.splitn(3, ':');
    let name = parts.next().unwrap_or_default();
    let ty = parts.next().ok_or_else(|| format!("field `{spec}`: expected NAME:TYPE, e.g. `title:string` (types: {TYPES})"))?;
    if !is_snake(name) {
        return Err(format!("field `{spec}`: `{name}` is not a snake_case field name"));
    }
    check_item_name("field", name).map_err(|e| format!("field `{spec}`: {e}"))?;
    if matches!(name, "id" | "inserted_at" | "updated_at") {
        return Err(format!("field `{spec}`: `{name}` is added by the generator itself"));
    }
    let rest = parts.next();
    let ty = match (ty, rest) {
        ("string", None) => FieldType::String,
        ("text", None) => FieldType::Text,
        ("integer", None) => FieldType::Integer,
        ("float", None) => FieldType::Float,
        ("boolean", None) => FieldType::Boolean,
        ("date", None) => FieldType::Date,
        ("datetime" | "naive_datetime", None) => FieldType::DateTime,
        ("references", Some(table)) if is_snake(table) => FieldType::References(table.to_owned()),
        ("references", _) => return Err(format!("field `{spec}`: expected `{name}:references:TABLE`")),
        (other, _) => return Err(format!("field `{spec}`: unknown type `{other}` (types: {TYPES})")),
    };
    Ok(Field { name: name.to_owned(), ty })
}

/// Parses every spec, refusing duplicates.
///
/// # Errors
/// The first bad spec, or a repeated name.
pub fn parse_all(specs: &[String]) -> Result<Vec<Field>, String> {
    let mut fields: Vec<Field> = Vec::new();
    for spec in specs {
        let field = parse(spec)?;
        if fields.iter().any(|f| f.name == field.name) {
            return Err(format!("field `{}` is given twice", field.name));
        }
        fields.push(field);
    }
    Ok(fields)
}

impl Field {
    /// The struct field's Rust type.
    pub fn rust_type(&self) -> &'static str {
        match self.ty {
            FieldType::String | FieldType::Text => "String",
            FieldType::Integer | FieldType::References(_) => "i64",
            FieldType::Float => "f64",
            FieldType::Boolean => "bool",
            FieldType::Date => "chrono::NaiveDate",
            FieldType::DateTime => "chrono::NaiveDateTime",
        }
    }

    /// The migration line that adds the column (inside `create_table`'s closure, `t`).
    pub fn migration_line(&self) -> String {
        let column = |ty: &str| format!("t.add({:?}, T::{ty}).not_null();", self.name);
        match &self.ty {
            FieldType::String => column("String"),
            FieldType::Text => column("Text"),
            FieldType::Integer => column("BigInt"),
            FieldType::Float => column("Float"),
            FieldType::Boolean => format!("t.add({:?}, T::Boolean).not_null().default(false);", self.name),
            FieldType::Date => column("Date"),
            FieldType::DateTime => column("NaiveDateTime"),
            FieldType::References(table) => format!("t.references({:?}, {table:?}, OnDelete::DeleteAll).not_null();", self.name),
        }
    }

    /// Is the field required by the changeset? (A boolean's `false` is a value.)
    pub fn required(&self) -> bool {
        self.ty != FieldType::Boolean
    }

    /// A valid value for tests, as JSON text (the first of two distinct ones).
    pub fn test_value(&self, second: bool) -> String {
        let pick = |a: &str, b: &str| if second { b.to_owned() } else { a.to_owned() };
        match self.ty {
            FieldType::String => pick(&format!("\"some {}\"", self.name), &format!("\"updated {}\"", self.name)),
            FieldType::Text => pick(&format!("\"some {} text\"", self.name), &format!("\"updated {} text\"", self.name)),
            FieldType::Integer | FieldType::References(_) => pick("42", "43"),
            FieldType::Float => pick("120.5", "456.25"),
            FieldType::Boolean => pick("true", "false"),
            FieldType::Date => pick("\"2024-05-17\"", "\"2024-05-18\""),
            FieldType::DateTime => pick("\"2024-05-17T14:00:00\"", "\"2024-05-18T15:01:01\""),
        }
    }

    /// The form input of an HTML form for this field (askama; `self` is the form page).
    pub fn form_input(&self, var: &str) -> String {
        let name = &self.name;
        let input = |ty: &str| {
            format!(r#"<input type="{ty}" id="{var}_{name}" name="{var}[{name}]" value="{{{{ self.value("{name}") }}}}">"#)
        };
        let control = match self.ty {
            FieldType::Text => {
                format!(r#"<textarea id="{var}_{name}" name="{var}[{name}]">{{{{ self.value("{name}") }}}}</textarea>"#)
            }
            FieldType::Boolean => format!(
                r#"<input type="hidden" name="{var}[{name}]" value="false"><input type="checkbox" id="{var}_{name}" name="{var}[{name}]" value="true"{{% if self.value("{name}") == "true" %}} checked{{% endif %}}>"#
            ),
            FieldType::Integer | FieldType::References(_) => input("number"),
            FieldType::Float => format!(
                r#"<input type="number" step="any" id="{var}_{name}" name="{var}[{name}]" value="{{{{ self.value("{name}") }}}}">"#
            ),
            FieldType::Date => input("date"),
            FieldType::String | FieldType::DateTime => input("text"),
        };
        format!(
            "  <p>\n    <label for=\"{var}_{name}\">{label}</label>\n    {control}\n    {{% if let Some(error) = self.error(\"{name}\") %}}<span class=\"error\">{{{{ error }}}}</span>{{% endif %}}\n  </p>",
            label = name.replace('_', " ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        assert_eq!(parse("title:string").unwrap(), Field { name: "title".into(), ty: FieldType::String });
        assert_eq!(
            parse("post_id:references:posts").unwrap(),
            Field { name: "post_id".into(), ty: FieldType::References("posts".into()) }
        );
        assert!(parse("title").unwrap_err().contains("expected NAME:TYPE"));
        assert!(parse("title:str").unwrap_err().contains("unknown type `str`"));
        assert!(parse("Title:string").unwrap_err().contains("not a snake_case"));
        assert!(parse("id:integer").unwrap_err().contains("added by the generator"));
        assert!(parse("type:string").unwrap_err().contains("keyword"));
        assert!(parse_all(&["a:string".into(), "a:text".into()]).unwrap_err().contains("given twice"));
    }
}
