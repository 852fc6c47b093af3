//! [`Path`]: typed path parameters.

use std::borrow::Cow;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use super::FromConnParts;
use super::rejection::PathRejection;
use crate::conn::Conn;

/// Path parameters of the matched route, deserialized into `T`.
///
/// - one parameter: `Path<u64>` or `Path<String>`;
/// - several, in route order: `Path<(u64, String)>`;
/// - by name: `Path<Params>` with `#[derive(Deserialize)] struct Params { id: u64 }`.
///
/// Values are percent-decoded first. A value that does not parse is a 400 naming the
/// parameter: `path parameter "id": invalid digit found in string`.
///
/// ```
/// use zzz::Path;
/// async fn show_user(Path(id): Path<u64>) -> String {
///     format!("user {id}")
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send> FromConnParts for Path<T> {
    type Rejection = PathRejection;

    async fn from_conn_parts(conn: &mut Conn) -> Result<Self, PathRejection> {
        let mut values: Vec<(&'static str, Cow<'_, str>)> = Vec::with_capacity(conn.inner.params.len());
        for p in &conn.inner.params {
            let raw = conn.raw_param(p);
            let value = if raw.contains('%') {
                percent_encoding::percent_decode_str(raw).decode_utf8().map_err(|_| PathRejection {
                    param: Some(p.name.to_owned()),
                    message: format!("{raw:?} is not valid UTF-8 once percent-decoded"),
                })?
            } else {
                Cow::Borrowed(raw)
            };
            values.push((p.name, value));
        }
        T::deserialize(PathDeserializer { params: &values }).map(Path).map_err(|e| PathRejection {
            param: e.param.map(str::to_owned),
            message: e.message,
        })
    }
}

#[derive(Debug)]
struct PathError {
    param: Option<&'static str>,
    message: String,
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PathError {}

impl de::Error for PathError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        PathError { param: None, message: msg.to_string() }
    }
}

/// Deserializes the whole parameter list: one value, a sequence, or a map by name.
struct PathDeserializer<'a, 'v> {
    params: &'a [(&'static str, Cow<'v, str>)],
}

impl<'a, 'v> PathDeserializer<'a, 'v> {
    fn single(&self) -> Result<ValueDeserializer<'a>, PathError> {
        match self.params {
            [(name, value)] => Ok(ValueDeserializer { name, value }),
            _ => Err(PathError {
                param: None,
                message: format!("expected 1 parameter, but the route has {}", self.params.len()),
            }),
        }
    }
}

macro_rules! forward_single {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
                self.single()?.$method(visitor)
            }
        )*
    };
}

impl<'de, 'a, 'v> de::Deserializer<'de> for PathDeserializer<'a, 'v> {
    type Error = PathError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        self.deserialize_map(visitor)
    }

    forward_single! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64 deserialize_char deserialize_str deserialize_string
        deserialize_bytes deserialize_byte_buf deserialize_option deserialize_identifier
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_seq(ParamSeq { params: self.params.iter() })
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, PathError> {
        if len != self.params.len() {
            return Err(PathError {
                param: None,
                message: format!("expected {len} parameters, but the route has {}", self.params.len()),
            });
        }
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(self, _: &'static str, len: usize, visitor: V) -> Result<V::Value, PathError> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_map(ParamMap { params: self.params.iter(), value: None })
    }

    fn deserialize_struct<V: Visitor<'de>>(self, _: &'static str, _: &'static [&'static str], visitor: V) -> Result<V::Value, PathError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(self, name: &'static str, variants: &'static [&'static str], visitor: V) -> Result<V::Value, PathError> {
        self.single()?.deserialize_enum(name, variants, visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_unit()
    }
}

struct ParamSeq<'a, 'v> {
    params: std::slice::Iter<'a, (&'static str, Cow<'v, str>)>,
}

impl<'de, 'a, 'v> SeqAccess<'de> for ParamSeq<'a, 'v> {
    type Error = PathError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, PathError> {
        match self.params.next() {
            Some((name, value)) => seed.deserialize(ValueDeserializer { name, value }).map(Some),
            None => Ok(None),
        }
    }
}

struct ParamMap<'a, 'v> {
    params: std::slice::Iter<'a, (&'static str, Cow<'v, str>)>,
    value: Option<&'a (&'static str, Cow<'v, str>)>,
}

impl<'de, 'a, 'v> MapAccess<'de> for ParamMap<'a, 'v> {
    type Error = PathError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, PathError> {
        match self.params.next() {
            Some(entry) => {
                self.value = Some(entry);
                seed.deserialize(entry.0.into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, PathError> {
        let (name, value) = self.value.take().expect("next_value_seed called after next_key_seed");
        seed.deserialize(ValueDeserializer { name, value })
    }
}

/// Deserializes one parameter's value, naming the parameter in every error.
struct ValueDeserializer<'a> {
    name: &'static str,
    value: &'a str,
}

impl ValueDeserializer<'_> {
    fn error(&self, message: impl std::fmt::Display) -> PathError {
        PathError { param: Some(self.name), message: message.to_string() }
    }
}

macro_rules! parse_value {
    ($($method:ident => $visit:ident : $ty:ty),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
                match self.value.parse::<$ty>() {
                    Ok(v) => visitor.$visit(v),
                    Err(e) => Err(self.error(format!("{e} (got {:?})", self.value))),
                }
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for ValueDeserializer<'_> {
    type Error = PathError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_str(self.value)
    }

    parse_value! {
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

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_str(self.value)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_string(self.value.to_owned())
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_bytes(self.value.as_bytes())
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_byte_buf(self.value.as_bytes().to_vec())
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, _: V) -> Result<V::Value, PathError> {
        Err(self.error("a single path segment cannot be a sequence"))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, PathError> {
        Err(self.error("a single path segment cannot be a tuple"))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(self, _: &'static str, _: usize, _: V) -> Result<V::Value, PathError> {
        Err(self.error("a single path segment cannot be a tuple"))
    }

    fn deserialize_map<V: Visitor<'de>>(self, _: V) -> Result<V::Value, PathError> {
        Err(self.error("a single path segment cannot be a map"))
    }

    fn deserialize_struct<V: Visitor<'de>>(self, _: &'static str, _: &'static [&'static str], _: V) -> Result<V::Value, PathError> {
        Err(self.error("a single path segment cannot be a struct"))
    }

    fn deserialize_enum<V: Visitor<'de>>(self, _: &'static str, variants: &'static [&'static str], visitor: V) -> Result<V::Value, PathError> {
        if !variants.contains(&self.value) {
            return Err(self.error(format!("{:?} is not one of {}", self.value, variants.join(", "))));
        }
        visitor.visit_enum(self.value.into_deserializer())
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_str(self.value)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_unit()
    }
}
