//! The text form of a broadcast travelling between nodes, shared by the Postgres and Redis
//! adapters, and the identity that lets a node recognise its own echoes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{Value, json};

use super::{Broadcast, Target};
use crate::channels::message::Payload;

/// A random-enough 64-bit id for one adapter instance: time, process id and a process-wide
/// counter, mixed. Two adapters (even with the same node name) never share one.
pub(crate) fn instance_id() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = nanos
        ^ (u64::from(std::process::id()) << 32)
        ^ N.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // splitmix64 finalizer
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The default node name: `node-<pid>-<random hex>`, unique per process start.
pub(crate) fn default_node_name() -> String {
    format!("node-{}-{:08x}", std::process::id(), instance_id() as u32)
}

/// Who sends: the node name (for direct broadcasts) and the instance id (for echoes), plus a
/// message counter that makes every envelope text unique (Postgres folds identical NOTIFY
/// payloads sent in one transaction into one).
pub(crate) struct Sender {
    pub(crate) node: String,
    pub(crate) instance: u64,
    counter: AtomicU64,
}

impl Sender {
    pub(crate) fn new(node: String) -> Sender {
        Sender {
            node,
            instance: instance_id(),
            counter: AtomicU64::new(0),
        }
    }

    /// A fresh message number for this instance.
    pub(crate) fn next_id(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// The JSON text of `msg` for `target`.
    pub(crate) fn encode(&self, msg: &Broadcast, target: &Target<'_>) -> String {
        let to = match target {
            Target::AllNodes => Value::Null,
            Target::Node(n) => Value::String((*n).to_owned()),
        };
        let mut env = json!({
            "src": format!("{:016x}", self.instance),
            "id": self.next_id(),
            "node": self.node,
            "to": to,
            "topic": msg.topic,
            "event": msg.event,
        });
        match &msg.payload {
            Payload::Json(v) => env["payload"] = v.clone(),
            Payload::Binary(b) => {
                env["binary"] = Value::String(base64::engine::general_purpose::STANDARD.encode(b))
            }
        }
        env.to_string()
    }
}

/// A decoded envelope.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub(crate) src: u64,
    pub(crate) to: Option<String>,
    pub(crate) topic: String,
    pub(crate) event: String,
    pub(crate) payload: Payload,
}

impl Incoming {
    /// Whether the node `node` (instance `instance`) should deliver this: not its own echo,
    /// and addressed to every node or to it.
    pub(crate) fn is_for(&self, node: &str, instance: u64) -> bool {
        self.src != instance && self.to.as_deref().is_none_or(|to| to == node)
    }
}

/// Parse an envelope; the error says which part is wrong.
pub(crate) fn decode(text: &str) -> Result<Incoming, String> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| format!("the envelope is not JSON: {e}"))?;
    let s = |k: &str| -> Result<String, String> {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("the envelope has no string {k:?}"))
    };
    let src = u64::from_str_radix(&s("src")?, 16)
        .map_err(|e| format!("the envelope's \"src\" is not hex: {e}"))?;
    let to = match v.get("to") {
        None | Some(Value::Null) => None,
        Some(Value::String(n)) => Some(n.clone()),
        Some(other) => return Err(format!("the envelope's \"to\" is not a node name: {other}")),
    };
    let payload = match (v.get("payload"), v.get("binary")) {
        (Some(p), None) => Payload::Json(p.clone()),
        (None, Some(Value::String(b))) => Payload::Binary(
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|e| format!("the envelope's \"binary\" is not base64: {e}"))?
                .into(),
        ),
        _ => return Err("the envelope needs exactly one of \"payload\" or \"binary\"".into()),
    };
    Ok(Incoming {
        src,
        to,
        topic: s("topic")?,
        event: s("event")?,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_json_and_binary() {
        let s = Sender::new("a".into());
        let msg = Broadcast::new("room:1", "ev", json!({"x": "é"}));
        let inc = decode(&s.encode(&msg, &Target::AllNodes)).unwrap();
        assert_eq!((inc.topic.as_str(), inc.event.as_str()), ("room:1", "ev"));
        assert_eq!(inc.payload, Payload::Json(json!({"x": "é"})));
        assert!(!inc.is_for("a", s.instance), "own echo");
        assert!(inc.is_for("b", s.instance ^ 1));

        let bin = Broadcast::new("t", "b", vec![0u8, 255, 7]);
        let inc = decode(&s.encode(&bin, &Target::Node("c"))).unwrap();
        assert_eq!(inc.payload, Payload::Binary(vec![0u8, 255, 7].into()));
        assert!(inc.is_for("c", 1) && !inc.is_for("b", 1), "direct");
    }

    #[test]
    fn errors_name_the_field() {
        assert!(decode("nope").unwrap_err().contains("not JSON"));
        let e = decode(r#"{"src":"zz","topic":"t","event":"e","payload":{}}"#).unwrap_err();
        assert!(e.contains("\"src\""), "{e}");
        let e = decode(r#"{"src":"1f","event":"e","payload":{}}"#).unwrap_err();
        assert!(e.contains("\"topic\""), "{e}");
    }
}
