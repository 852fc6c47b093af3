//! Nested parameters, as `Plug.Conn.Query` decodes them: `user[name]=a&user[tags][]=x`
//! becomes `{"user": {"name": "a", "tags": ["x"]}}`.
//!
//! [`Param`] is the tree; it deserializes into any serde type, parsing numbers and
//! booleans from their text as a form field would need.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

/// A file received in a multipart request, saved to a temporary file that is removed
/// when the request ends.
///
/// Deserializes from a multipart file field, so a form struct may hold one:
///
/// ```
/// use serde::Deserialize;
/// use zzz::plugs::Upload;
///
/// #[derive(Deserialize)]
/// struct AvatarForm { name: String, avatar: Upload }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Upload {
    /// The file name the client gave (`filename=` of the part), as sent.
    pub filename: String,
    /// The part's `Content-Type`, if it had one.
    pub content_type: Option<String>,
    /// Where the content was saved. The file is deleted when the request ends: copy or
    /// move it before returning from the handler to keep it.
    pub path: std::path::PathBuf,
    /// The size in bytes.
    pub size: u64,
}

/// One value of a nested parameter tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    /// A plain value.
    Str(String),
    /// A list, from `key[]=…` (or a repeated multipart field ending in `[]`).
    List(Vec<Param>),
    /// A map, from `key[sub]=…`.
    Map(BTreeMap<String, Param>),
    /// An uploaded file (multipart only).
    File(Upload),
}

impl Param {
    /// An empty map, the root of a parameter tree.
    pub fn new_map() -> Param {
        Param::Map(BTreeMap::new())
    }

    /// The value under `key` when this is a map.
    pub fn get(&self, key: &str) -> Option<&Param> {
        match self {
            Param::Map(map) => map.get(key),
            _ => None,
        }
    }

    /// The text when this is a plain value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Param::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The upload when this is a file.
    pub fn as_upload(&self) -> Option<&Upload> {
        match self {
            Param::File(upload) => Some(upload),
            _ => None,
        }
    }

    /// The items when this is a list.
    pub fn as_list(&self) -> Option<&[Param]> {
        match self {
            Param::List(items) => Some(items),
            _ => None,
        }
    }

    /// Converts the tree to JSON (files become `{filename, content_type, path, size}`).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Param::Str(s) => serde_json::Value::String(s.clone()),
            Param::List(items) => serde_json::Value::Array(items.iter().map(Param::to_json).collect()),
            Param::Map(map) => serde_json::Value::Object(map.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
            Param::File(upload) => serde_json::to_value(upload).unwrap_or(serde_json::Value::Null),
        }
    }

    /// Inserts `value` at a nested key such as `user[tags][]`, as Plug does: `[]`
    /// appends to a list; `list[][field]` adds `field` to the last map of the list, or
    /// starts a new map when that one already has `field`. A later plain value replaces
    /// an earlier one of the same key.
    ///
    /// Fails with a message naming the key when it is malformed (`user[name`) or when
    /// it uses one name both as a list and as a map.
    pub fn insert_nested(&mut self, key: &str, value: Param) -> Result<(), String> {
        let parts = split_key(key)?;
        insert_parts(self, key, &parts, value)
    }
}

/// Splits `a[b][]` into `["a", "b", ""]` (an empty part is `[]`).
fn split_key(key: &str) -> Result<Vec<&str>, String> {
    let (head, mut rest) = match key.find('[') {
        Some(0) => return Err(format!("parameter name {key:?} starts with `[`")),
        Some(i) => (&key[..i], &key[i..]),
        None => return if key.is_empty() { Err("empty parameter name".to_owned()) } else { Ok(vec![key]) },
    };
    let mut parts = vec![head];
    while !rest.is_empty() {
        if !rest.starts_with('[') {
            // Plug ignores what follows the last bracket; be stricter and say so.
            return Err(format!("parameter name {key:?} has text after a `]`"));
        }
        let close = rest.find(']').ok_or_else(|| format!("parameter name {key:?} has an unclosed `[`"))?;
        let part = &rest[1..close];
        if part.contains('[') {
            return Err(format!("parameter name {key:?} has a `[` inside brackets"));
        }
        parts.push(part);
        rest = &rest[close + 1..];
    }
    Ok(parts)
}

fn insert_parts(node: &mut Param, key: &str, parts: &[&str], value: Param) -> Result<(), String> {
    let Param::Map(map) = node else {
        return Err(format!("parameter {key:?} nests into a value that is not a map"));
    };
    let name = parts[0];
    let rest = &parts[1..];
    if rest.is_empty() {
        map.insert(name.to_owned(), value);
        return Ok(());
    }
    if rest[0].is_empty() {
        // name[] or name[][field]…
        let entry = map.entry(name.to_owned()).or_insert_with(|| Param::List(Vec::new()));
        let Param::List(items) = entry else {
            return Err(format!("parameter {key:?} uses {name:?} as a list, but it is already a map or a value"));
        };
        if rest.len() == 1 {
            items.push(value);
            return Ok(());
        }
        let field = rest[1];
        let start_new = match items.last() {
            Some(Param::Map(last)) => field.is_empty() || last.contains_key(field),
            _ => true,
        };
        if start_new {
            items.push(Param::new_map());
        }
        let last = items.last_mut().expect("just ensured");
        return insert_parts_map(last, key, &rest[1..], value);
    }
    let entry = map.entry(name.to_owned()).or_insert_with(Param::new_map);
    if !matches!(entry, Param::Map(_)) {
        // A later nested key replaces an earlier plain value, as a later plain value would.
        if matches!(entry, Param::List(_)) {
            return Err(format!("parameter {key:?} uses {name:?} as a map, but it is already a list"));
        }
        *entry = Param::new_map();
    }
    insert_parts_map(entry, key, rest, value)
}

fn insert_parts_map(node: &mut Param, key: &str, parts: &[&str], value: Param) -> Result<(), String> {
    if parts[0].is_empty() {
        return Err(format!("parameter name {key:?} has `[]` where a field name is expected"));
    }
    insert_parts(node, key, parts, value)
}

/// Decodes a urlencoded string (a query string or a form body) into a nested tree.
pub fn decode_urlencoded(input: &[u8]) -> Result<Param, String> {
    let mut root = Param::new_map();
    for (key, value) in form_urlencoded::parse(input) {
        root.insert_nested(&key, Param::Str(value.into_owned()))?;
    }
    Ok(root)
}

// ----- serde -----

/// Why a parameter tree did not fit the requested type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError(String);

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParamError {}

impl de::Error for ParamError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ParamError(msg.to_string())
    }
}

impl<'de> IntoDeserializer<'de, ParamError> for &'de Param {
    type Deserializer = ParamDeserializer<'de>;
    fn into_deserializer(self) -> ParamDeserializer<'de> {
        ParamDeserializer(self)
    }
}

/// Deserializes a [`Param`] tree: text is parsed into numbers and booleans on demand,
/// an empty text is `None` for an `Option`, a single value is a one-item list.
#[derive(Debug, Clone, Copy)]
pub struct ParamDeserializer<'de>(pub &'de Param);

macro_rules! parse_from_str {
    ($($method:ident => $visit:ident: $ty:ty),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
                match self.0 {
                    Param::Str(s) => match s.trim().parse::<$ty>() {
                        Ok(v) => visitor.$visit(v),
                        Err(_) => Err(ParamError(format!("invalid value {s:?}: expected {}", stringify!($ty)))),
                    },
                    _ => self.deserialize_any(visitor),
                }
            }
        )*
    };
}

struct FileFields<'de>(&'de Upload, usize);

impl<'de> MapAccess<'de> for FileFields<'de> {
    type Error = ParamError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, ParamError> {
        const KEYS: [&str; 4] = ["filename", "content_type", "path", "size"];
        if self.1 >= KEYS.len() {
            return Ok(None);
        }
        seed.deserialize(KEYS[self.1].into_deserializer()).map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, ParamError> {
        let i = self.1;
        self.1 += 1;
        let upload = self.0;
        match i {
            0 => seed.deserialize(upload.filename.as_str().into_deserializer()),
            1 => seed.deserialize(OptionalText(upload.content_type.as_deref())),
            2 => seed.deserialize(upload.path.to_string_lossy().into_owned().into_deserializer()),
            _ => seed.deserialize(upload.size.into_deserializer()),
        }
    }
}

/// An optional text value (an upload's content type).
struct OptionalText<'de>(Option<&'de str>);

impl<'de> de::Deserializer<'de> for OptionalText<'de> {
    type Error = ParamError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        match self.0 {
            Some(text) => visitor.visit_borrowed_str(text),
            None => visitor.visit_none(),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        match self.0 {
            Some(text) => visitor.visit_some(de::value::BorrowedStrDeserializer::new(text)),
            None => visitor.visit_none(),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

struct Items<'de>(std::slice::Iter<'de, Param>);

impl<'de> SeqAccess<'de> for Items<'de> {
    type Error = ParamError;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, ParamError> {
        self.0.next().map(|p| seed.deserialize(ParamDeserializer(p))).transpose()
    }
}

struct Entries<'de> {
    iter: std::collections::btree_map::Iter<'de, String, Param>,
    value: Option<&'de Param>,
}

impl<'de> MapAccess<'de> for Entries<'de> {
    type Error = ParamError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, ParamError> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(k.as_str().into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, ParamError> {
        let value = self.value.take().ok_or_else(|| ParamError("value without a key".to_owned()))?;
        seed.deserialize(ParamDeserializer(value))
    }
}

impl<'de> de::Deserializer<'de> for ParamDeserializer<'de> {
    type Error = ParamError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        match self.0 {
            Param::Str(s) => visitor.visit_borrowed_str(s),
            Param::List(items) => visitor.visit_seq(Items(items.iter())),
            Param::Map(map) => visitor.visit_map(Entries { iter: map.iter(), value: None }),
            Param::File(upload) => visitor.visit_map(FileFields(upload, 0)),
        }
    }

    parse_from_str! {
        deserialize_bool => visit_bool: bool,
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_i128 => visit_i128: i128,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
        deserialize_u128 => visit_u128: u128,
        deserialize_f32 => visit_f32: f32,
        deserialize_f64 => visit_f64: f64,
        deserialize_char => visit_char: char,
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        match self.0 {
            Param::Str(s) if s.is_empty() => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        match self.0 {
            Param::List(items) => visitor.visit_seq(Items(items.iter())),
            other => visitor.visit_seq(Items(std::slice::from_ref(other).iter())),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, ParamError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        match self.0 {
            Param::Str(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            _ => Err(ParamError("expected a plain value naming a variant".to_owned())),
        }
    }

    serde::forward_to_deserialize_any! {
        str string bytes byte_buf unit unit_struct tuple tuple_struct map struct identifier ignored_any
    }
}

/// Deserializes `T` from a parameter tree, naming the offending field on failure
/// (`user.age: invalid value "x": expected u32`).
pub fn from_params<T: serde::de::DeserializeOwned>(params: &Param) -> Result<T, (Option<String>, String)> {
    serde_path_to_error::deserialize(ParamDeserializer(params)).map_err(|err| {
        let path = err.path().to_string();
        let message = err.into_inner().to_string().replace('`', "\"");
        ((path != ".").then_some(path), message)
    })
}
