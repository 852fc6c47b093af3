//! The hot set: a bounded in-memory copy of recently read small contents.
//!
//! Build caches are read far more than written, and mostly the same few artifacts at
//! once (every CI agent building the same commit asks for the same outputs). Serving
//! those from disk costs, per read, a hop to the blocking pool, an open, a fresh buffer
//! (page faults for every 4 KiB of it) and a copy out of the page cache. Contents of at
//! most [`SMALL_ARTIFACT`](super::SMALL_ARTIFACT) bytes that were read are therefore
//! kept, up to a byte budget, least recently used first out, and sent straight from
//! memory: the response body shares the bytes, nothing is copied. Contents are keyed
//! by digest, so a copy can never be stale; a content is dropped when its last key
//! goes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use bytes::Bytes;

/// Recently read contents, least recently used evicted first.
pub(crate) struct Hot {
    budget: u64,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// digest → (bytes, last use)
    map: HashMap<String, (Bytes, u64)>,
    /// last use → digest, oldest first
    order: BTreeMap<u64, String>,
    clock: u64,
    bytes: u64,
}

impl Hot {
    /// A hot set holding at most `budget` bytes (0: keeps nothing).
    pub(crate) fn new(budget: u64) -> Hot {
        Hot { budget, inner: Mutex::new(Inner::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The content with this digest, if held (and marks it used).
    pub(crate) fn get(&self, digest: &str) -> Option<Bytes> {
        if self.budget == 0 {
            return None;
        }
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        let (bytes, used) = inner.map.get_mut(digest)?;
        let (bytes, before) = (bytes.clone(), std::mem::replace(used, now));
        let name = inner.order.remove(&before).expect("every held content is in the order");
        inner.order.insert(now, name);
        Some(bytes)
    }

    /// Keeps a content just read, evicting the least recently used to make room. A
    /// content larger than an eighth of the budget is not kept, so one big artifact
    /// cannot flush everything else.
    pub(crate) fn insert(&self, digest: &str, bytes: Bytes) {
        let size = bytes.len() as u64;
        if size == 0 || size > self.budget / 8 {
            return;
        }
        let mut inner = self.lock();
        if inner.map.contains_key(digest) {
            return;
        }
        while inner.bytes + size > self.budget {
            let Some((_, oldest)) = inner.order.pop_first() else { break };
            if let Some((gone, _)) = inner.map.remove(&oldest) {
                inner.bytes -= gone.len() as u64;
            }
        }
        inner.clock += 1;
        let now = inner.clock;
        inner.order.insert(now, digest.to_owned());
        inner.map.insert(digest.to_owned(), (bytes, now));
        inner.bytes += size;
    }

    /// Forgets a content (its last key is gone).
    pub(crate) fn remove(&self, digest: &str) {
        if self.budget == 0 {
            return;
        }
        let mut inner = self.lock();
        if let Some((gone, used)) = inner.map.remove(digest) {
            inner.order.remove(&used);
            inner.bytes -= gone.len() as u64;
        }
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> u64 {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_recently_used_contents_within_the_budget() {
        let hot = Hot::new(800);
        hot.insert("a", Bytes::from(vec![1; 100]));
        hot.insert("b", Bytes::from(vec![2; 100]));
        assert_eq!(hot.get("a").unwrap()[0], 1);
        // Over an eighth of the budget: not kept.
        hot.insert("huge", Bytes::from(vec![0; 101]));
        assert!(hot.get("huge").is_none());
        for name in ["c", "d", "e", "f", "g", "h"] {
            hot.insert(name, Bytes::from(vec![3; 100]));
        }
        assert_eq!(hot.bytes(), 800);
        // "b" was the least recently used ("a" was read after it): it went first.
        hot.insert("i", Bytes::from(vec![4; 100]));
        assert!(hot.get("b").is_none());
        assert!(hot.get("a").is_some());
        assert_eq!(hot.bytes(), 800);
        hot.remove("a");
        assert!(hot.get("a").is_none());
        assert_eq!(hot.bytes(), 700);
        let off = Hot::new(0);
        off.insert("a", Bytes::from_static(b"x"));
        assert!(off.get("a").is_none());
    }
}
