//! Frames and messages of the Phoenix Channels protocol.
//!
//! A [`Frame`] is what travels on the wire (one WebSocket text or binary message);
//! a [`Message`] is a decoded client frame. [`Payload`] is either JSON or raw bytes
//! (V2 binary frames).
//!
//! ```
//! use zzz::channels::{Payload, Status};
//! use serde_json::json;
//!
//! let p: Payload = json!({"body": "hi"}).into();
//! assert!(p.is_object());
//! assert_eq!(Status::Ok.as_str(), "ok");
//! assert_eq!(Payload::empty(), Payload::Json(json!({})));
//! ```

use bytes::Bytes;
use serde_json::Value;

pub use tokio_tungstenite::tungstenite::Utf8Bytes;

/// The payload of a message: a JSON value, or raw bytes carried by a V2 binary frame.
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    /// A JSON value; the protocol expects an object.
    Json(Value),
    /// Raw bytes (only the V2 serializer can carry them).
    Binary(Bytes),
}

impl Payload {
    /// The empty JSON object `{}`, the payload of control replies.
    pub fn empty() -> Payload {
        Payload::Json(Value::Object(Default::default()))
    }

    /// True for a JSON object or a binary payload (the shapes the protocol allows).
    pub fn is_object(&self) -> bool {
        matches!(self, Payload::Json(Value::Object(_)) | Payload::Binary(_))
    }

    /// The JSON value, if this is a JSON payload.
    pub fn as_json(&self) -> Option<&Value> {
        match self {
            Payload::Json(v) => Some(v),
            Payload::Binary(_) => None,
        }
    }

    /// The bytes, if this is a binary payload.
    pub fn as_binary(&self) -> Option<&Bytes> {
        match self {
            Payload::Binary(b) => Some(b),
            Payload::Json(_) => None,
        }
    }

    /// Look a field up in a JSON object payload.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.as_json().and_then(|v| v.get(field))
    }

    /// Deserialize a JSON payload into `T`; the error names the offending field.
    ///
    /// ```
    /// use zzz::channels::{Payload, Reply};
    /// use serde_json::json;
    ///
    /// #[derive(Debug, serde::Deserialize)]
    /// struct NewMsg { body: String }
    ///
    /// let ok: NewMsg = Payload::from(json!({"body": "hi"})).decode().unwrap();
    /// assert_eq!(ok.body, "hi");
    /// let err = Payload::from(json!({"body": 5})).decode::<NewMsg>().unwrap_err();
    /// assert!(err.to_string().starts_with("invalid payload at `body`"), "{err}");
    /// // an error converts into an error reply {"reason": "..."}
    /// assert!(matches!(Reply::from(err), Reply::Error(_)));
    /// ```
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, PayloadError> {
        let Payload::Json(v) = self else {
            return Err(PayloadError("expected a JSON payload, got binary".into()));
        };
        serde_path_to_error::deserialize(v).map_err(|e| {
            let path = e.path().to_string();
            if path == "." {
                PayloadError(format!("invalid payload: {}", e.inner()))
            } else {
                PayloadError(format!("invalid payload at `{path}`: {}", e.inner()))
            }
        })
    }
}

/// A payload that does not have the expected shape (see [`Payload::decode`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadError(pub String);

impl std::fmt::Display for PayloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PayloadError {}

impl From<Value> for Payload {
    fn from(v: Value) -> Self {
        Payload::Json(v)
    }
}

impl From<Bytes> for Payload {
    fn from(b: Bytes) -> Self {
        Payload::Binary(b)
    }
}

impl From<Vec<u8>> for Payload {
    fn from(b: Vec<u8>) -> Self {
        Payload::Binary(Bytes::from(b))
    }
}

/// One WebSocket message as sent or received: text (JSON serializers) or binary (V2 binary).
///
/// Cloning is cheap (reference counted), which is what lets one encoded broadcast be shared by
/// every subscriber.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A UTF-8 text frame.
    Text(Utf8Bytes),
    /// A binary frame.
    Binary(Bytes),
}

impl Frame {
    /// A text frame from a string.
    pub fn text(s: impl Into<String>) -> Frame {
        Frame::Text(Utf8Bytes::from(s.into()))
    }

    /// The frame's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Frame::Text(t) => t.as_bytes(),
            Frame::Binary(b) => b,
        }
    }

    /// The text, for a text frame.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Frame::Text(t) => Some(t.as_str()),
            Frame::Binary(_) => None,
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// True when the frame has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A decoded client message: `[join_ref, ref, topic, event, payload]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// The ref of the join this message belongs to (`None` for heartbeats and V1 clients).
    pub join_ref: Option<String>,
    /// The message ref, echoed in the reply.
    pub ref_: Option<String>,
    /// The topic, e.g. `room:lobby`.
    pub topic: String,
    /// The event, e.g. `phx_join` or `new_msg`.
    pub event: String,
    /// The payload.
    pub payload: Payload,
}

/// The status of a `phx_reply`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// `"ok"`
    Ok,
    /// `"error"`
    Error,
}

impl Status {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Error => "error",
        }
    }
}

/// Control event names of the protocol.
pub mod events {
    /// Client asks to join a topic.
    pub const JOIN: &str = "phx_join";
    /// Client leaves a topic.
    pub const LEAVE: &str = "phx_leave";
    /// Server reply to a client push.
    pub const REPLY: &str = "phx_reply";
    /// Server closed the channel.
    pub const CLOSE: &str = "phx_close";
    /// The channel crashed.
    pub const ERROR: &str = "phx_error";
    /// Heartbeat (topic `phoenix`).
    pub const HEARTBEAT: &str = "heartbeat";
    /// The topic of heartbeats.
    pub const PHOENIX_TOPIC: &str = "phoenix";
}
