//! The index journal: one JSON line per change, replayed at start and compacted.
//!
//! Why a journal and not a database: the index is a map from key to entry that the
//! server keeps in memory anyway (every GET reads it, eviction sorts it), so what must
//! survive a restart is only its changes. An append of one short line per PUT or
//! DELETE is the cheapest durable form of that, needs no schema or driver, and a
//! torn last line after a crash is simply skipped at replay. Access statistics (last
//! access, hit count) change on every GET, so they are collected in memory and
//! appended as `touch` lines once a second. At start the journal is replayed and
//! rewritten as one `put` line per live entry (compaction), and again whenever it grows
//! past twice the live entries.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Entry;

/// One line of the journal.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub(crate) enum Record {
    /// The key now names this entry.
    Put {
        /// The key.
        k: String,
        /// The entry.
        e: Entry,
    },
    /// The key was deleted or evicted.
    Del {
        /// The key.
        k: String,
    },
    /// The key's access statistics.
    Touch {
        /// The key.
        k: String,
        /// Last access, Unix milliseconds.
        a: u64,
        /// Hits so far.
        h: u64,
    },
}

/// The open journal file.
pub(crate) struct Journal {
    file: File,
    path: PathBuf,
    /// Lines in the file (live entries plus superseded ones).
    pub(crate) records: u64,
    /// Whether lines were appended since the last fsync.
    unsynced: bool,
}

impl Journal {
    /// Replays the journal at `path` (missing = empty index). A line that does not
    /// parse (a write torn by a crash) is skipped and logged.
    pub(crate) fn replay(path: &Path) -> std::io::Result<HashMap<String, Entry>> {
        let mut entries = HashMap::new();
        let file = match File::open(path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(entries),
            Err(err) => return Err(err),
        };
        let mut skipped = 0u64;
        for line in BufReader::new(file).split(b'\n') {
            let line = line?;
            if line.is_empty() {
                continue;
            }
            match serde_json::from_slice::<Record>(&line) {
                Ok(Record::Put { k, e }) => {
                    entries.insert(k, e);
                }
                Ok(Record::Del { k }) => {
                    entries.remove(&k);
                }
                Ok(Record::Touch { k, a, h }) => {
                    if let Some(entry) = entries.get_mut(&k) {
                        entry.accessed = entry.accessed.max(a);
                        entry.hits = entry.hits.max(h);
                    }
                }
                Err(_) => skipped += 1,
            }
        }
        if skipped > 0 {
            tracing::warn!(path = %path.display(), skipped, "skipped unreadable journal lines (a write torn by a crash)");
        }
        Ok(entries)
    }

    /// Writes a fresh journal holding exactly `entries` (to a temporary file, fsynced,
    /// then renamed over the old one) and opens it for appending.
    pub(crate) fn rewrite<'a>(path: &Path, entries: impl Iterator<Item = (&'a String, &'a Entry)>) -> std::io::Result<Journal> {
        let tmp = path.with_extension("journal.tmp");
        let mut records = 0;
        {
            let mut out = BufWriter::new(File::create(&tmp)?);
            for (k, e) in entries {
                serde_json::to_writer(&mut out, &RecordRef::Put { k, e })?;
                out.write_all(b"\n")?;
                records += 1;
            }
            out.flush()?;
            out.get_ref().sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        let file = OpenOptions::new().append(true).open(path)?;
        Ok(Journal { file, path: path.to_path_buf(), records, unsynced: false })
    }

    /// Appends one record with a single `write` (so a crash tears at most this line).
    pub(crate) fn append(&mut self, record: &Record) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.records += 1;
        self.unsynced = true;
        Ok(())
    }

    /// Appends several records in one `write`.
    pub(crate) fn append_all(&mut self, records: &[Record]) -> std::io::Result<()> {
        let mut buf = Vec::new();
        for record in records {
            serde_json::to_writer(&mut buf, record)?;
            buf.push(b'\n');
        }
        self.file.write_all(&buf)?;
        self.records += records.len() as u64;
        self.unsynced = true;
        Ok(())
    }

    /// Flushes the journal to disk (a no-op when nothing was appended since the last time).
    pub(crate) fn sync(&mut self) -> std::io::Result<()> {
        if self.unsynced {
            self.file.sync_data()?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// The journal's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// A borrowed `put` record, for compaction without cloning every entry.
#[derive(Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum RecordRef<'a> {
    Put { k: &'a str, e: &'a Entry },
}
