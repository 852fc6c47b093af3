//! Serializers: V1 JSON objects, V2 JSON arrays and V2 binary frames.
//!
//! The serializer is chosen per connection from the `vsn` query parameter (missing means
//! `1.0.0`). V2 text frames are `[join_ref, ref, topic, event, payload]`; V1 frames are objects
//! `{"topic","event","payload","ref"}`. V2 binary frames carry a raw payload after a header of
//! length-prefixed strings (each at most 255 bytes).
//!
//! ```
//! use zzz::channels::{Serializer, Frame, Payload, Status};
//! use serde_json::json;
//!
//! let ser = Serializer::from_vsn(Some("2.0.0")).unwrap();
//! let frame = ser.encode_reply(Some("1"), Some("1"), "room:lobby", Status::Ok, &Payload::empty()).unwrap();
//! assert_eq!(frame.as_text().unwrap(),
//!     r#"["1","1","room:lobby","phx_reply",{"status":"ok","response":{}}]"#);
//!
//! let msg = ser.decode(&Frame::text(r#"[null,"5","phoenix","heartbeat",{}]"#)).unwrap();
//! assert_eq!(msg.event, "heartbeat");
//! assert_eq!(msg.payload, Payload::Json(json!({})));
//! ```

use std::fmt;
use std::sync::OnceLock;

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;
use serde_json::Value;

use super::message::{Frame, Message, Payload, Status, events};

/// A protocol version's serializer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Serializer {
    /// `vsn=1.0.x`: JSON objects, no join_ref on the wire, no binary frames.
    V1,
    /// `vsn=2.0.x`: JSON arrays and binary frames.
    V2,
}

/// A client frame that could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed message: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

/// A message the serializer cannot put on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The V1 serializer cannot carry binary payloads.
    BinaryUnsupported,
    /// A binary frame header field is longer than 255 bytes.
    FieldTooLong(&'static str),
    /// JSON serialization failed.
    Json(String),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::BinaryUnsupported => {
                write!(f, "the V1 serializer cannot send binary payloads")
            }
            EncodeError::FieldTooLong(field) => {
                write!(f, "binary frame field `{field}` is longer than 255 bytes")
            }
            EncodeError::Json(e) => write!(f, "json encoding failed: {e}"),
        }
    }
}

impl std::error::Error for EncodeError {}

#[derive(Serialize)]
struct ReplyBody<'a> {
    status: &'a str,
    response: &'a Value,
}

#[derive(Serialize)]
struct V1Out<'a, P: Serialize> {
    topic: &'a str,
    event: &'a str,
    payload: P,
    #[serde(rename = "ref")]
    ref_: Option<&'a str>,
}

fn json_frame<T: Serialize>(value: &T) -> Result<Frame, EncodeError> {
    let s = serde_json::to_string(value).map_err(|e| EncodeError::Json(e.to_string()))?;
    Ok(Frame::text(s))
}

fn len_u8(s: &str, field: &'static str) -> Result<u8, EncodeError> {
    u8::try_from(s.len()).map_err(|_| EncodeError::FieldTooLong(field))
}

impl Serializer {
    /// Pick the serializer for a `vsn` query parameter: `None` means `1.0.0`; `1.0.x` → V1,
    /// `2.0.x` → V2; anything else is unsupported (`None`).
    pub fn from_vsn(vsn: Option<&str>) -> Option<Serializer> {
        let vsn = vsn.unwrap_or("1.0.0");
        let mut parts = vsn.split('.');
        let (major, minor) = (parts.next()?, parts.next()?);
        if let Some(patch) = parts.next() {
            patch.parse::<u32>().ok()?;
        }
        if parts.next().is_some() {
            return None;
        }
        match (major, minor) {
            ("1", "0") => Some(Serializer::V1),
            ("2", "0") => Some(Serializer::V2),
            _ => None,
        }
    }

    /// Decode a client frame.
    pub fn decode(self, frame: &Frame) -> Result<Message, DecodeError> {
        match (self, frame) {
            (Serializer::V2, Frame::Text(t)) => decode_v2_text(t.as_bytes()),
            (Serializer::V2, Frame::Binary(b)) => decode_v2_binary(b),
            (Serializer::V1, Frame::Text(t)) => decode_v1_text(t.as_bytes()),
            (Serializer::V1, Frame::Binary(_)) => Err(DecodeError(
                "binary frames need the V2 serializer (vsn=2.0.0)".into(),
            )),
        }
    }

    /// Encode a server push or control message (`phx_close`, `phx_error`): V2
    /// `[join_ref, ref, topic, event, payload]`. A binary payload becomes a V2 binary push
    /// (kind 0, which has no ref).
    pub fn encode_push(
        self,
        join_ref: Option<&str>,
        ref_: Option<&str>,
        topic: &str,
        event: &str,
        payload: &Payload,
    ) -> Result<Frame, EncodeError> {
        match (self, payload) {
            (Serializer::V2, Payload::Json(v)) => json_frame(&(join_ref, ref_, topic, event, v)),
            (Serializer::V1, Payload::Json(v)) => json_frame(&V1Out {
                topic,
                event,
                payload: v,
                ref_,
            }),
            (Serializer::V2, Payload::Binary(data)) => {
                let jr = join_ref.unwrap_or("");
                let mut buf =
                    BytesMut::with_capacity(4 + jr.len() + topic.len() + event.len() + data.len());
                buf.put_u8(0);
                buf.put_u8(len_u8(jr, "join_ref")?);
                buf.put_u8(len_u8(topic, "topic")?);
                buf.put_u8(len_u8(event, "event")?);
                buf.put_slice(jr.as_bytes());
                buf.put_slice(topic.as_bytes());
                buf.put_slice(event.as_bytes());
                buf.put_slice(data);
                Ok(Frame::Binary(buf.freeze()))
            }
            (Serializer::V1, Payload::Binary(_)) => Err(EncodeError::BinaryUnsupported),
        }
    }

    /// Encode a `phx_reply`: payload `{"status": status, "response": response}`. A binary
    /// response becomes a V2 binary reply (kind 1).
    pub fn encode_reply(
        self,
        join_ref: Option<&str>,
        ref_: Option<&str>,
        topic: &str,
        status: Status,
        response: &Payload,
    ) -> Result<Frame, EncodeError> {
        let status = status.as_str();
        match (self, response) {
            (Serializer::V2, Payload::Json(v)) => json_frame(&(
                join_ref,
                ref_,
                topic,
                events::REPLY,
                ReplyBody {
                    status,
                    response: v,
                },
            )),
            (Serializer::V1, Payload::Json(v)) => json_frame(&V1Out {
                topic,
                event: events::REPLY,
                payload: ReplyBody {
                    status,
                    response: v,
                },
                ref_,
            }),
            (Serializer::V2, Payload::Binary(data)) => {
                let jr = join_ref.unwrap_or("");
                let r = ref_.unwrap_or("");
                let mut buf = BytesMut::with_capacity(
                    5 + jr.len() + r.len() + topic.len() + status.len() + data.len(),
                );
                buf.put_u8(1);
                buf.put_u8(len_u8(jr, "join_ref")?);
                buf.put_u8(len_u8(r, "ref")?);
                buf.put_u8(len_u8(topic, "topic")?);
                buf.put_u8(len_u8(status, "status")?);
                buf.put_slice(jr.as_bytes());
                buf.put_slice(r.as_bytes());
                buf.put_slice(topic.as_bytes());
                buf.put_slice(status.as_bytes());
                buf.put_slice(data);
                Ok(Frame::Binary(buf.freeze()))
            }
            (Serializer::V1, Payload::Binary(_)) => Err(EncodeError::BinaryUnsupported),
        }
    }

    /// Encode a broadcast: `[null, null, topic, event, payload]` (binary: kind 2).
    pub fn encode_broadcast(
        self,
        topic: &str,
        event: &str,
        payload: &Payload,
    ) -> Result<Frame, EncodeError> {
        match (self, payload) {
            (Serializer::V2, Payload::Binary(data)) => {
                let mut buf = BytesMut::with_capacity(3 + topic.len() + event.len() + data.len());
                buf.put_u8(2);
                buf.put_u8(len_u8(topic, "topic")?);
                buf.put_u8(len_u8(event, "event")?);
                buf.put_slice(topic.as_bytes());
                buf.put_slice(event.as_bytes());
                buf.put_slice(data);
                Ok(Frame::Binary(buf.freeze()))
            }
            _ => self.encode_push(None, None, topic, event, payload),
        }
    }

    fn index(self) -> usize {
        match self {
            Serializer::V1 => 0,
            Serializer::V2 => 1,
        }
    }
}

fn decode_v2_text(bytes: &[u8]) -> Result<Message, DecodeError> {
    let (join_ref, ref_, topic, event, payload): (
        Option<String>,
        Option<String>,
        String,
        String,
        Value,
    ) = serde_json::from_slice(bytes).map_err(|e| {
        DecodeError(format!(
            "expected a JSON array [join_ref, ref, topic, event, payload] ({e})"
        ))
    })?;
    Ok(Message {
        join_ref,
        ref_,
        topic,
        event,
        payload: Payload::Json(payload),
    })
}

#[derive(serde::Deserialize)]
struct V1In {
    topic: String,
    event: String,
    #[serde(default)]
    payload: Value,
    #[serde(rename = "ref", default)]
    ref_: Option<String>,
    #[serde(default)]
    join_ref: Option<String>,
}

fn decode_v1_text(bytes: &[u8]) -> Result<Message, DecodeError> {
    let m: V1In = serde_json::from_slice(bytes).map_err(|e| {
        DecodeError(format!(
            "expected a JSON object {{\"topic\",\"event\",\"payload\",\"ref\"}} ({e})"
        ))
    })?;
    Ok(Message {
        join_ref: m.join_ref,
        ref_: m.ref_,
        topic: m.topic,
        event: m.event,
        payload: Payload::Json(m.payload),
    })
}

fn decode_v2_binary(b: &Bytes) -> Result<Message, DecodeError> {
    if b.len() < 5 {
        return Err(DecodeError(
            "binary frame shorter than its 5-byte header".into(),
        ));
    }
    if b[0] != 0 {
        return Err(DecodeError(format!(
            "binary frame kind {} is not a client push (0)",
            b[0]
        )));
    }
    let lens = [b[1] as usize, b[2] as usize, b[3] as usize, b[4] as usize];
    let mut pos = 5;
    let mut fields: [&[u8]; 4] = [&[]; 4];
    for (i, len) in lens.iter().enumerate() {
        let end = pos + len;
        if end > b.len() {
            return Err(DecodeError(
                "binary frame header lengths exceed the frame".into(),
            ));
        }
        fields[i] = &b[pos..end];
        pos = end;
    }
    let s = |f: &[u8], name: &str| {
        std::str::from_utf8(f)
            .map(str::to_owned)
            .map_err(|_| DecodeError(format!("binary frame {name} is not UTF-8")))
    };
    let join_ref = s(fields[0], "join_ref")?;
    let ref_ = s(fields[1], "ref")?;
    Ok(Message {
        join_ref: (!join_ref.is_empty()).then_some(join_ref),
        ref_: (!ref_.is_empty()).then_some(ref_),
        topic: s(fields[2], "topic")?,
        event: s(fields[3], "event")?,
        payload: Payload::Binary(b.slice(pos..)),
    })
}

/// Per-serializer cache of an encoded broadcast: the first subscriber using a serializer
/// encodes it, every other one clones the same bytes (Phoenix's fastlane).
#[derive(Default)]
pub struct FastlaneCache {
    slots: [OnceLock<Result<Frame, EncodeError>>; 2],
    // The same frames with their (unmasked, server-side) WebSocket framing, for direct
    // delivery to a socket; `None` when the broadcast does not encode.
    ws: [OnceLock<Option<Bytes>>; 2],
}

impl FastlaneCache {
    /// The broadcast encoded with `ser`, computed at most once.
    pub fn get_or_encode(
        &self,
        ser: Serializer,
        topic: &str,
        event: &str,
        payload: &Payload,
    ) -> Result<&Frame, &EncodeError> {
        self.slots[ser.index()]
            .get_or_init(|| ser.encode_broadcast(topic, event, payload))
            .as_ref()
    }

    /// The broadcast encoded with `ser` as one complete WebSocket frame (FIN set, unmasked,
    /// as a server sends it), computed at most once; `None` when it does not encode.
    pub fn ws_frame(
        &self,
        ser: Serializer,
        topic: &str,
        event: &str,
        payload: &Payload,
    ) -> Option<&Bytes> {
        self.ws[ser.index()]
            .get_or_init(|| {
                let frame = self.get_or_encode(ser, topic, event, payload).ok()?;
                Some(websocket_frame(frame))
            })
            .as_ref()
    }
}

/// `frame` with the WebSocket header a server puts before it (RFC 6455 §5.2: FIN, the text
/// or binary opcode, no mask, the shortest length encoding).
pub fn websocket_frame(frame: &Frame) -> Bytes {
    let (opcode, data): (u8, &[u8]) = match frame {
        Frame::Text(t) => (0x1, t.as_bytes()),
        Frame::Binary(b) => (0x2, b),
    };
    let mut out = BytesMut::with_capacity(data.len() + 10);
    out.put_u8(0x80 | opcode);
    match data.len() {
        n @ 0..=125 => out.put_u8(n as u8),
        n @ 126..=0xFFFF => {
            out.put_u8(126);
            out.put_u16(n as u16);
        }
        n => {
            out.put_u8(127);
            out.put_u64(n as u64);
        }
    }
    out.put_slice(data);
    out.freeze()
}

impl fmt::Debug for FastlaneCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FastlaneCache")
            .field("v1", &self.slots[0].get().is_some())
            .field("v2", &self.slots[1].get().is_some())
            .finish()
    }
}
