//! Changesets: cast a whitelist of params, validate, and turn database constraint
//! violations into field errors — Ecto's `Ecto.Changeset` with the same default messages.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::error::{DbError, DbErrorKind};
use crate::query::Column;
use crate::schema::Schema;
use crate::value::{FieldType, IntoValue, Value};

/// One error on a field: a message template plus metadata (Ecto's `{msg, opts}`).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// Template, e.g. `"should be at least %{count} character(s)"`.
    pub message: String,
    /// Metadata, e.g. `[("count", 3), ("validation", "length"), ("kind", "min"), ("type", "string")]`.
    pub opts: Vec<(String, Json)>,
}

impl FieldError {
    /// A new error.
    pub fn new(message: impl Into<String>, opts: Vec<(&str, Json)>) -> Self {
        FieldError { message: message.into(), opts: opts.into_iter().map(|(k, v)| (k.to_string(), v)).collect() }
    }
    /// Metadata value by key.
    pub fn opt(&self, key: &str) -> Option<&Json> {
        self.opts.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    /// The message with `%{key}` replaced by the metadata values.
    pub fn message(&self) -> String {
        let mut out = self.message.clone();
        for (k, v) in &self.opts {
            let pat = format!("%{{{k}}}");
            if out.contains(&pat) {
                let rep = match v {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                };
                out = out.replace(&pat, &rep);
            }
        }
        out
    }
}

/// The errors of a changeset, in the order they were added.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Errors(pub Vec<(String, FieldError)>);

impl Errors {
    /// Iterate over `(field, error)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &FieldError)> {
        self.0.iter().map(|(f, e)| (f.as_str(), e))
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Number of errors.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Errors on one field.
    pub fn on(&self, field: &str) -> Vec<&FieldError> {
        self.0.iter().filter(|(f, _)| f == field).map(|(_, e)| e).collect()
    }
    /// Interpolated messages per field (`traverse_errors` with the default interpolation).
    pub fn to_map(&self) -> BTreeMap<String, Vec<String>> {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (f, e) in &self.0 {
            m.entry(f.clone()).or_default().push(e.message());
        }
        m
    }
    /// `{"field": ["message", …]}` for JSON APIs and forms.
    pub fn to_json(&self) -> Json {
        serde_json::to_value(self.to_map()).unwrap_or(Json::Null)
    }
    /// Like `traverse_errors/2`: map every error with your own function (e.g. translation).
    pub fn traverse<F: FnMut(&FieldError) -> String>(&self, mut f: F) -> BTreeMap<String, Vec<String>> {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (field, e) in &self.0 {
            m.entry(field.clone()).or_default().push(f(e));
        }
        m
    }
}

impl serde::Serialize for Errors {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConstraintKind {
    Unique,
    ForeignKey,
    Check,
}

#[derive(Debug, Clone)]
pub(crate) struct Constraint {
    pub(crate) kind: ConstraintKind,
    pub(crate) name: String,
    pub(crate) field: String,
    pub(crate) message: String,
}

/// Options for [`Changeset::validate_length`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Length {
    is: Option<usize>,
    min: Option<usize>,
    max: Option<usize>,
}
impl Length {
    /// Exactly `n`.
    pub fn is(n: usize) -> Self {
        Length { is: Some(n), ..Default::default() }
    }
    /// At least `n`.
    pub fn min(n: usize) -> Self {
        Length { min: Some(n), ..Default::default() }
    }
    /// At most `n` (builder form: `Length::min(3).max(20)`).
    pub fn max(self, n: usize) -> Self {
        Length { max: Some(n), ..self }
    }
    /// Only a maximum.
    pub fn at_most(n: usize) -> Self {
        Length { max: Some(n), ..Default::default() }
    }
}

/// Options for [`Changeset::validate_number`]; combine with the builder methods.
#[derive(Debug, Clone, Copy, Default)]
pub struct Number {
    checks: [Option<f64>; 6],
}
impl Number {
    fn with(mut self, i: usize, n: f64) -> Self {
        self.checks[i] = Some(n);
        self
    }
    /// `> n`.
    pub fn greater_than(n: impl Into<f64>) -> Self {
        Number::default().with(0, n.into())
    }
    /// `>= n`.
    pub fn greater_than_or_equal_to(n: impl Into<f64>) -> Self {
        Number::default().with(1, n.into())
    }
    /// `< n`.
    pub fn less_than(n: impl Into<f64>) -> Self {
        Number::default().with(2, n.into())
    }
    /// `<= n`.
    pub fn less_than_or_equal_to(n: impl Into<f64>) -> Self {
        Number::default().with(3, n.into())
    }
    /// `== n`.
    pub fn equal_to(n: impl Into<f64>) -> Self {
        Number::default().with(4, n.into())
    }
    /// `!= n`.
    pub fn not_equal_to(n: impl Into<f64>) -> Self {
        Number::default().with(5, n.into())
    }
    /// Add `< n`.
    pub fn and_less_than(self, n: impl Into<f64>) -> Self {
        self.with(2, n.into())
    }
    /// Add `<= n`.
    pub fn and_less_than_or_equal_to(self, n: impl Into<f64>) -> Self {
        self.with(3, n.into())
    }
}

const NUMBER_CHECKS: [(&str, &str); 6] = [
    ("greater_than", "must be greater than %{number}"),
    ("greater_than_or_equal_to", "must be greater than or equal to %{number}"),
    ("less_than", "must be less than %{number}"),
    ("less_than_or_equal_to", "must be less than or equal to %{number}"),
    ("equal_to", "must be equal to %{number}"),
    ("not_equal_to", "must be not equal to %{number}"),
];

/// A set of changes to a schema struct, with params, validations and constraints.
///
/// ```
/// use zzz_db::{Schema, Changeset, Length};
/// use serde_json::json;
///
/// #[derive(Schema, Debug, Clone, Default)]
/// struct User { id: i64, name: String, age: i64 }
///
/// let cs = Changeset::cast(User::default(), &json!({"name": "al", "age": "x"}), &["name", "age"])
///     .validate_required(&["name", "age"])
///     .validate_length("name", Length::min(3));
/// assert!(!cs.is_valid());
/// assert_eq!(cs.errors().to_json(), json!({
///     "age": ["is invalid"],
///     "name": ["should be at least 3 character(s)"],
/// }));
/// ```
#[derive(Debug, Clone)]
pub struct Changeset<S: Schema> {
    data: S,
    changes: BTreeMap<&'static str, Value>,
    params: serde_json::Map<String, Json>,
    errors: Errors,
    pub(crate) constraints: Vec<Constraint>,
}

fn field_name<S: Schema>(field: &str) -> &'static str {
    match S::FIELDS.iter().find(|f| **f == field) {
        Some(f) => f,
        None => panic!("unknown field `{field}` for schema `{}` (fields: {:?})", S::TABLE, S::FIELDS),
    }
}

/// A record whose primary key is still its type's default (`0`, the nil UUID, NULL) has
/// never been inserted: the database assigns keys, so no stored row has one of those.
fn never_inserted(key: Value) -> bool {
    match key {
        Value::Null | Value::Int(0) => true,
        Value::Uuid(u) => u.is_nil(),
        _ => false,
    }
}

/// The value `Default::default()` gives a field of this type.
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Int(0) | Value::Bool(false) => true,
        Value::Float(f) => *f == 0.0,
        Value::Uuid(u) => u.is_nil(),
        Value::Json(j) => j.is_null(),
        Value::DateTime(t) => *t == chrono::NaiveDateTime::default(),
        Value::DateTimeUtc(t) => *t == chrono::DateTime::<chrono::Utc>::default(),
        Value::Date(d) => *d == chrono::NaiveDate::default(),
        _ => false,
    }
}

fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Text(s) => s.trim().is_empty(),
        _ => false,
    }
}

impl<S: Schema> Changeset<S> {
    /// A changeset with no changes (for `put_change` or deletes).
    pub fn new(data: S) -> Self {
        Changeset { data, changes: BTreeMap::new(), params: serde_json::Map::new(), errors: Errors::default(), constraints: Vec::new() }
    }

    /// Cast the `permitted` fields from `params` (a JSON object; form params arrive as
    /// strings and are cast too). A value that cannot be cast gets `"is invalid"`;
    /// `null` and `""` become NULL (Ecto's empty values; `validate_required` then reports
    /// them); a value equal to the current one is no change — except on a record that was
    /// never inserted (its primary key is still `0` or the nil UUID): there every permitted
    /// parameter the client sent is a change, even one equal to the struct's default, so
    /// `validate_number`, `validate_inclusion` and the rest judge what was sent. (Ecto's
    /// new structs hold `nil`; a Rust field always holds a value, often its default, and an
    /// invalid `0` sent by the client must not slip through as "no change".)
    ///
    /// # Panics
    /// If a permitted field is not a field of the schema (a programming error, as in Ecto).
    pub fn cast(data: S, params: &Json, permitted: &[&str]) -> Self {
        let unsaved = never_inserted(data.primary_key().to_value());
        let mut cs = Changeset::new(data);
        let map = match params {
            Json::Object(m) => m.clone(),
            _ => serde_json::Map::new(),
        };
        for &field in permitted {
            let name = field_name::<S>(field);
            let Some(raw) = map.get(field) else { continue };
            // Ecto: nil casts to nil for every type, and "" is an empty value (nil).
            let empty = matches!(raw, Json::Null) || matches!(raw, Json::String(s) if s.is_empty());
            let cast = if empty { Ok(Value::Null) } else { S::cast_field(name, raw).expect("field checked above") };
            match cast {
                Ok(v) => {
                    if unsaved || S::get_value(&cs.data, name).as_ref() != Some(&v) {
                        cs.changes.insert(name, v);
                    }
                }
                Err(e) => cs.errors.0.push((
                    name.to_string(),
                    FieldError::new("is invalid", vec![("type", Json::from(e.type_name)), ("validation", Json::from("cast"))]),
                )),
            }
        }
        cs.params = map;
        cs
    }

    /// Cast from string form params (`name=value` pairs, e.g. a decoded form body).
    pub fn cast_form<K: AsRef<str>, V: AsRef<str>>(data: S, params: impl IntoIterator<Item = (K, V)>, permitted: &[&str]) -> Self {
        let map: serde_json::Map<String, Json> =
            params.into_iter().map(|(k, v)| (k.as_ref().to_string(), Json::String(v.as_ref().to_string()))).collect();
        Self::cast(data, &Json::Object(map), permitted)
    }

    /// The original data.
    pub fn data(&self) -> &S {
        &self.data
    }
    /// The changes so far.
    pub fn changes(&self) -> &BTreeMap<&'static str, Value> {
        &self.changes
    }
    /// The params given to `cast`.
    pub fn params(&self) -> &serde_json::Map<String, Json> {
        &self.params
    }
    /// The errors.
    pub fn errors(&self) -> &Errors {
        &self.errors
    }
    /// Valid if there are no errors.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
    /// The change for a field, if any.
    pub fn get_change(&self, field: &str) -> Option<&Value> {
        self.changes.get(field)
    }
    /// The change if any, else the data's value.
    pub fn get_field(&self, field: &str) -> Option<Value> {
        match self.changes.get(field) {
            Some(v) => Some(v.clone()),
            None => self.data.get_value(field),
        }
    }
    /// Typed [`get_field`](Self::get_field) through a column handle.
    pub fn field<T: FieldType>(&self, col: Column<S, T>) -> Option<T> {
        self.get_field(col.name).and_then(|v| T::from_value(v).ok())
    }
    /// Put a change without casting (always recorded).
    pub fn put_change<T: FieldType>(mut self, col: Column<S, T>, v: impl IntoValue<T>) -> Self {
        self.changes.insert(field_name::<S>(col.name), v.into_value());
        self
    }
    /// Put a change by field name (for virtual fields and dynamic code).
    pub fn put_value(mut self, field: &str, v: Value) -> Self {
        self.changes.insert(field_name::<S>(field), v);
        self
    }
    /// Remove a change.
    pub fn delete_change(mut self, field: &str) -> Self {
        self.changes.remove(field);
        self
    }
    /// Add an error.
    pub fn add_error(mut self, field: &str, message: impl Into<String>, opts: Vec<(&str, Json)>) -> Self {
        self.errors.0.push((field.to_string(), FieldError::new(message, opts)));
        self
    }
    fn has_error(&self, field: &str) -> bool {
        self.errors.0.iter().any(|(f, _)| f == field)
    }
    fn push_error(&mut self, field: &str, message: &str, opts: Vec<(&str, Json)>) {
        self.errors.0.push((field.to_string(), FieldError::new(message, opts)));
    }

    /// Each field must be present (in changes or data) and not blank: `"can't be blank"`.
    ///
    /// On a record that was never inserted (primary key `0` or the nil UUID), a data value
    /// that is its type's zero — `0`, `0.0`, `false`, the nil UUID, 1970-01-01 — counts as
    /// absent unless the changeset sets it: that is what `..Default::default()` leaves in a
    /// field nobody filled, Rust's stand-in for the `nil` of Ecto's new structs. A value the
    /// client sent (even `0`) or the code put (`put_change`, or a non-zero field such as
    /// `Post { user_id: 5, .. }`) is present.
    pub fn validate_required(mut self, fields: &[&str]) -> Self {
        let unsaved = never_inserted(self.data.primary_key().to_value());
        for &f in fields {
            let name = field_name::<S>(f);
            let missing = match self.changes.get(name) {
                Some(v) => is_blank(v),
                None => self.data.get_value(name).map(|v| is_blank(&v) || (unsaved && is_zero(&v))).unwrap_or(true),
            };
            if missing && !self.has_error(name) {
                self.push_error(name, "can't be blank", vec![("validation", "required".into())]);
            }
        }
        self
    }

    /// The changed text must match `pattern` (a regex): `"has invalid format"`.
    ///
    /// # Panics
    /// If `pattern` is not a valid regular expression.
    pub fn validate_format(mut self, field: &str, pattern: &str) -> Self {
        let re = regex_lite::Regex::new(pattern).unwrap_or_else(|e| panic!("invalid regex {pattern:?}: {e}"));
        if let Some(Value::Text(s)) = self.changes.get(field)
            && !re.is_match(s) {
                self.push_error(field, "has invalid format", vec![("validation", "format".into())]);
            }
        self
    }

    /// Length of a changed string, bytes or JSON list. Strings are counted in Unicode
    /// scalar values (`char`s); Ecto counts graphemes, which differs only for combining
    /// sequences such as emoji with modifiers.
    pub fn validate_length(mut self, field: &str, opts: Length) -> Self {
        let (len, ty) = match self.changes.get(field) {
            Some(Value::Text(s)) => (s.chars().count(), "string"),
            Some(Value::Bytes(b)) => (b.len(), "binary"),
            Some(Value::Json(Json::Array(a))) => (a.len(), "list"),
            _ => return self,
        };
        let msgs = match ty {
            "string" => ["should be %{count} character(s)", "should be at least %{count} character(s)", "should be at most %{count} character(s)"],
            "binary" => ["should be %{count} byte(s)", "should be at least %{count} byte(s)", "should be at most %{count} byte(s)"],
            _ => ["should have %{count} item(s)", "should have at least %{count} item(s)", "should have at most %{count} item(s)"],
        };
        let fail = if let Some(n) = opts.is.filter(|n| len != *n) {
            Some((msgs[0], n, "is"))
        } else if let Some(n) = opts.min.filter(|n| len < *n) {
            Some((msgs[1], n, "min"))
        } else {
            opts.max.filter(|n| len > *n).map(|n| (msgs[2], n, "max"))
        };
        if let Some((msg, n, kind)) = fail {
            self.push_error(
                field,
                msg,
                vec![("count", n.into()), ("validation", "length".into()), ("kind", kind.into()), ("type", ty.into())],
            );
        }
        self
    }

    /// Numeric bounds on a changed number.
    pub fn validate_number(mut self, field: &str, opts: Number) -> Self {
        let n = match self.changes.get(field) {
            Some(Value::Int(i)) => *i as f64,
            Some(Value::Float(f)) => *f,
            _ => return self,
        };
        for (i, check) in opts.checks.iter().enumerate() {
            let Some(target) = *check else { continue };
            let ok = match i {
                0 => n > target,
                1 => n >= target,
                2 => n < target,
                3 => n <= target,
                4 => n == target,
                _ => n != target,
            };
            if !ok {
                let (kind, msg) = NUMBER_CHECKS[i];
                let number: Json = if target.fract() == 0.0 && target.abs() < 9.0e15 { Json::from(target as i64) } else { Json::from(target) };
                self.push_error(field, msg, vec![("validation", "number".into()), ("kind", kind.into()), ("number", number)]);
                break;
            }
        }
        self
    }

    /// The changed value must be one of `allowed`: `"is invalid"`.
    pub fn validate_inclusion<T: FieldType>(mut self, field: &str, allowed: &[T]) -> Self {
        if let Some(v) = self.changes.get(field)
            && !v.is_null() && !allowed.iter().any(|a| &a.to_value() == v) {
                let e: Vec<Json> = allowed.iter().map(|a| a.to_value().to_json()).collect();
                self.push_error(field, "is invalid", vec![("validation", "inclusion".into()), ("enum", Json::Array(e))]);
            }
        self
    }

    /// The changed value must not be one of `reserved`: `"is reserved"`.
    pub fn validate_exclusion<T: FieldType>(mut self, field: &str, reserved: &[T]) -> Self {
        if let Some(v) = self.changes.get(field)
            && reserved.iter().any(|a| &a.to_value() == v) {
                let e: Vec<Json> = reserved.iter().map(|a| a.to_value().to_json()).collect();
                self.push_error(field, "is reserved", vec![("validation", "exclusion".into()), ("enum", Json::Array(e))]);
            }
        self
    }

    /// When `field` changed, the param `<field>_confirmation` must equal it; the error
    /// `"does not match confirmation"` goes on `<field>_confirmation`.
    pub fn validate_confirmation(mut self, field: &str) -> Self {
        let conf_field = format!("{field}_confirmation");
        if let Some(v) = self.changes.get(field).cloned() {
            let conf = self.params.get(&conf_field).cloned();
            match conf {
                None => {}
                Some(c) => {
                    let cast = S::cast_field(field, &c).and_then(Result::ok);
                    if cast.as_ref() != Some(&v) {
                        self.push_error(&conf_field, "does not match confirmation", vec![("validation", "confirmation".into())]);
                    }
                }
            }
        }
        self
    }

    /// The param `field` must be true (`true`, `"true"`, `"1"`): `"must be accepted"`.
    pub fn validate_acceptance(mut self, field: &str) -> Self {
        let ok = matches!(
            self.params.get(field),
            Some(Json::Bool(true)) | Some(Json::String(_))
                if <bool as FieldType>::cast(self.params.get(field).unwrap()) == Ok(Value::Bool(true))
        );
        if !ok {
            self.push_error(field, "must be accepted", vec![("validation", "acceptance".into())]);
        }
        self
    }

    /// A custom validation on a changed value: return `Some(message)` to add an error.
    pub fn validate_change(mut self, field: &str, f: impl FnOnce(&Value) -> Option<String>) -> Self {
        if let Some(v) = self.changes.get(field)
            && let Some(msg) = f(v) {
                self.push_error(field, &msg, vec![("validation", "custom".into())]);
            }
        self
    }

    /// Declare a unique index (default name `<table>_<field>_index`); a violation on
    /// insert/update becomes `"has already been taken"` on `field`.
    pub fn unique_constraint(self, field: &str) -> Self {
        let name = format!("{}_{}_index", S::TABLE, field);
        self.unique_constraint_named(field, &name)
    }
    /// Declare a unique constraint/index with an explicit name.
    pub fn unique_constraint_named(mut self, field: &str, name: &str) -> Self {
        self.constraints.push(Constraint {
            kind: ConstraintKind::Unique,
            name: name.to_string(),
            field: field.to_string(),
            message: "has already been taken".into(),
        });
        self
    }
    /// Declare a foreign key (default name `<table>_<field>_fkey`): `"does not exist"`.
    pub fn foreign_key_constraint(mut self, field: &str) -> Self {
        self.constraints.push(Constraint {
            kind: ConstraintKind::ForeignKey,
            name: format!("{}_{}_fkey", S::TABLE, field),
            field: field.to_string(),
            message: "does not exist".into(),
        });
        self
    }
    /// Declare a named check constraint: `"is invalid"`.
    pub fn check_constraint(mut self, field: &str, name: &str) -> Self {
        self.constraints.push(Constraint {
            kind: ConstraintKind::Check,
            name: name.to_string(),
            field: field.to_string(),
            message: "is invalid".into(),
        });
        self
    }

    /// Map a database error to a declared constraint, adding the field error.
    pub(crate) fn constraint_error(&mut self, db: &DbError) -> bool {
        let kind = match db.kind {
            DbErrorKind::UniqueViolation => ConstraintKind::Unique,
            DbErrorKind::ForeignKeyViolation => ConstraintKind::ForeignKey,
            DbErrorKind::CheckViolation => ConstraintKind::Check,
            _ => return false,
        };
        let found = self.constraints.iter().find(|c| {
            c.kind == kind
                && match &db.constraint {
                    Some(n) => *n == c.name,
                    // SQLite does not name foreign keys in its error.
                    None => kind == ConstraintKind::ForeignKey,
                }
        });
        let Some(c) = found.cloned() else { return false };
        let cname = match c.kind {
            ConstraintKind::Unique => "unique",
            ConstraintKind::ForeignKey => "foreign",
            ConstraintKind::Check => "check",
        };
        self.push_error(&c.field, &c.message, vec![("constraint", cname.into()), ("constraint_name", c.name.clone().into())]);
        true
    }

    /// The data with the changes applied (virtual fields included).
    pub fn apply_changes(&self) -> Result<S, crate::Error>
    where
        S: Clone,
    {
        let mut data = self.data.clone();
        for (f, v) in &self.changes {
            data.put_value(f, v.clone()).map_err(|e| {
                crate::Error::Changeset(crate::error::ChangesetError {
                    table: S::TABLE,
                    errors: Errors(vec![(
                        f.to_string(),
                        FieldError::new("is invalid", vec![("type", e.type_name.into()), ("validation", "cast".into())]),
                    )]),
                })
            })?;
        }
        Ok(data)
    }

    /// Like Ecto's `apply_action/2`: the applied data if valid, else the errors.
    pub fn apply_action(&self) -> Result<S, crate::Error>
    where
        S: Clone,
    {
        if !self.is_valid() {
            return Err(self.invalid());
        }
        self.apply_changes()
    }

    pub(crate) fn invalid(&self) -> crate::Error {
        crate::Error::Changeset(crate::error::ChangesetError { table: S::TABLE, errors: self.errors.clone() })
    }
}
