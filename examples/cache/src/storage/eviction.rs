//! Eviction policies: which entries go first when the store is over its size cap.

use std::time::Duration;

use super::Entry;

/// How entries are chosen for eviction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Least recently used first (the default).
    Lru,
    /// Least frequently used first (fewest hits; ties: least recently used).
    Lfu,
    /// Entries expire a fixed time after they were written; over the cap, the oldest
    /// written go first.
    Ttl(Duration),
}

impl Policy {
    /// The policy's name as given on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Policy::Lru => "lru",
            Policy::Lfu => "lfu",
            Policy::Ttl(_) => "ttl",
        }
    }

    /// The sort key: entries with the smallest key are evicted first.
    pub(crate) fn rank(&self, entry: &Entry) -> (u64, u64) {
        match self {
            Policy::Lru => (entry.accessed, 0),
            Policy::Lfu => (entry.hits, entry.accessed),
            Policy::Ttl(_) => (entry.created, 0),
        }
    }

    /// Whether an entry has outlived its time to live at `now` (Unix ms).
    pub(crate) fn expired(&self, entry: &Entry, now: u64) -> bool {
        match self {
            Policy::Ttl(ttl) => entry.created.saturating_add(ttl.as_millis() as u64) <= now,
            _ => false,
        }
    }
}

/// Once over the cap, eviction frees space down to this fraction of it, so a store
/// at its cap does not evict on every write.
pub(crate) const LOW_WATERMARK: f64 = 0.9;

/// The keys to evict so that `total` bytes fall to the low watermark of `cap`, in
/// policy order. `blob_bytes(entry)` says how many bytes removing the entry frees
/// (zero when another key shares its content).
pub(crate) fn victims<'a>(
    policy: Policy,
    entries: impl Iterator<Item = (&'a String, &'a Entry)>,
    total: u64,
    cap: u64,
    mut frees: impl FnMut(&Entry) -> u64,
) -> Vec<String> {
    if total <= cap {
        return Vec::new();
    }
    let target = (cap as f64 * LOW_WATERMARK) as u64;
    let mut ranked: Vec<((u64, u64), &String, &Entry)> = entries.map(|(k, e)| (policy.rank(e), k, e)).collect();
    ranked.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
    let mut left = total;
    let mut out = Vec::new();
    for (_, key, entry) in ranked {
        if left <= target {
            break;
        }
        left = left.saturating_sub(frees(entry));
        out.push(key.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(accessed: u64, hits: u64, created: u64) -> Entry {
        Entry { blob: format!("{accessed}{hits}{created}"), size: 10, created, accessed, hits, meta: Vec::new(), slot: None }
    }

    #[test]
    fn lru_takes_the_least_recently_used() {
        let entries = [("a".to_owned(), entry(3, 9, 1)), ("b".to_owned(), entry(1, 9, 2)), ("c".to_owned(), entry(2, 0, 3))];
        let v = victims(Policy::Lru, entries.iter().map(|(k, e)| (k, e)), 30, 25, |e| e.size);
        assert_eq!(v, vec!["b".to_owned()]);
    }

    #[test]
    fn lfu_takes_the_least_frequently_used() {
        let entries = [("a".to_owned(), entry(3, 9, 1)), ("b".to_owned(), entry(1, 9, 2)), ("c".to_owned(), entry(2, 0, 3))];
        let v = victims(Policy::Lfu, entries.iter().map(|(k, e)| (k, e)), 30, 25, |e| e.size);
        assert_eq!(v, vec!["c".to_owned()]);
    }

    #[test]
    fn ttl_takes_the_oldest_written_and_expires() {
        let entries = [("a".to_owned(), entry(3, 9, 1)), ("b".to_owned(), entry(1, 9, 2))];
        let policy = Policy::Ttl(Duration::from_millis(5));
        let v = victims(policy, entries.iter().map(|(k, e)| (k, e)), 20, 15, |e| e.size);
        assert_eq!(v, vec!["a".to_owned()]);
        assert!(policy.expired(&entries[0].1, 6));
        assert!(!policy.expired(&entries[1].1, 6));
    }

    #[test]
    fn nothing_under_the_cap() {
        let entries = [("a".to_owned(), entry(3, 9, 1))];
        assert!(victims(Policy::Lru, entries.iter().map(|(k, e)| (k, e)), 10, 10, |e| e.size).is_empty());
    }
}
