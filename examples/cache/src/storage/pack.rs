//! Packs: small artifacts appended to shared files, with one fsync per group of writes.
//!
//! A file per artifact costs a create, a rename and (for durability) an fsync each: on a
//! typical disk that is 0.1–0.5 ms per artifact whatever its size, which for the many
//! tiny outputs a build produces (Bazel action results, Gradle task outputs, small
//! Turborepo artifacts) dwarfs moving the bytes. Artifacts of at most [`PACK_MAX`] bytes
//! are therefore appended to a *pack* instead:
//!
//! ```text
//! packs/00000001.pack   record record record …   (sealed once past the pack size)
//! record = "zzP1" | length: u32 LE | content address (BLAKE3): 32 bytes | data
//! ```
//!
//! One thread, the *packer*, does every append. Uploads hand it their complete, hashed
//! body and wait; the packer takes everything that has queued up, writes it with one
//! `pwrite`, fsyncs once for the whole group, then links every key in the index with
//! one journal write, and answers each upload. While one fsync is in flight the next
//! group gathers, so the more uploads arrive together, the fewer fsyncs each costs (group
//! commit, as databases do for their logs). The guarantees are those of the file path:
//! an upload is linked only after its bytes are on disk, so a reader never sees a
//! partial artifact, and an upload that fails before its last byte never reaches the
//! packer.
//!
//! A record whose keys are all gone (deleted, evicted, replaced) is dead space. When
//! dead space is at least half of a sealed pack, maintenance asks the packer to
//! *compact* it: the live records are copied into the current pack, the index and
//! journal point at the copies (journal fsynced), and only then is the old pack deleted.
//! The size cap counts artifact bytes, so packs may hold up to about as much dead space
//! again until they are compacted.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::{Entry, Inner, PutError, Store};

/// Artifacts of at most this many bytes are stored in packs; larger ones get a file each.
pub const PACK_MAX: u64 = 64 * 1024;

/// The default size past which the current pack is sealed and a new one started.
pub const DEFAULT_PACK_SIZE: u64 = 64 * 1024 * 1024;

/// A group is written once it holds this many bytes, even if more uploads wait.
const GROUP_BYTES: usize = 8 * 1024 * 1024;

const MAGIC: &[u8; 4] = b"zzP1";

/// Bytes before a record's data: magic, length, content address.
pub const HEADER: u64 = 4 + 4 + 32;

/// Where a packed artifact lives: which pack, and the offset of its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Slot {
    /// The pack's number (its file name).
    pub pack: u32,
    /// The offset of the record (its header) in the pack.
    pub offset: u64,
}

/// An open pack, as the index knows it.
pub(crate) struct Pack {
    /// Shared by readers and the packer (reads and writes are positioned).
    pub(crate) file: Arc<File>,
    /// Bytes written and committed.
    pub(crate) len: u64,
    /// Bytes of records no key points at any more.
    pub(crate) dead: u64,
    /// A compaction of this pack is queued or running.
    pub(crate) compacting: bool,
}

/// The file of pack `id`.
pub(crate) fn pack_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{id:08}.pack"))
}

/// The pack number of a file name like `00000012.pack`.
pub(crate) fn pack_id(name: &str) -> Option<u32> {
    let digits = name.strip_suffix(".pack")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Opens an existing pack for reading and appending.
pub(crate) fn open_pack(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().read(true).write(true).open(path)
}

/// Whether the record at `slot` in `file` holds `size` bytes of the content `digest`
/// (hex), judged by its header: a record torn by a crash (never linked, or written
/// without fsync before a power loss) fails this.
pub(crate) fn record_matches(file: &File, slot: Slot, size: u64, digest: &str) -> bool {
    let mut header = [0u8; HEADER as usize];
    if file.read_exact_at(&mut header, slot.offset).is_err() {
        return false;
    }
    header[..4] == MAGIC[..] && u32::from_le_bytes(header[4..8].try_into().unwrap()) as u64 == size && hex::encode(&header[8..]) == digest
}

/// Reads the data of the record at `slot`.
pub(crate) fn read_record(file: &File, slot: Slot, size: u64) -> std::io::Result<Vec<u8>> {
    let mut data = vec![0u8; size as usize];
    file.read_exact_at(&mut data, slot.offset + HEADER)?;
    Ok(data)
}

fn push_record(buf: &mut Vec<u8>, digest: &str, data: &[u8]) {
    buf.extend_from_slice(MAGIC);
    buf.extend_from_slice(&(data.len() as u32).to_le_bytes());
    let mut raw = [0u8; 32];
    hex::decode_to_slice(digest, &mut raw).expect("content addresses are 32 bytes in hex");
    buf.extend_from_slice(&raw);
    buf.extend_from_slice(data);
}

/// Work for the packer.
pub(crate) enum Job {
    /// Append an upload and link its key.
    Put {
        key: String,
        entry: Entry,
        data: Bytes,
        no_overwrite: bool,
        reply: oneshot::Sender<Result<Entry, PutError>>,
    },
    /// Move a sealed pack's live records into the current pack and delete it.
    Compact { pack: u32 },
}

/// One upload of a group, appended and waiting to be linked.
pub(crate) struct Appended {
    pub(crate) key: String,
    pub(crate) entry: Entry,
    pub(crate) no_overwrite: bool,
    pub(crate) record_len: u64,
}

/// A live record of a pack being compacted.
pub(crate) struct Live {
    pub(crate) digest: String,
    pub(crate) slot: Slot,
    pub(crate) size: u64,
}

/// A record copied by a compaction.
pub(crate) struct Moved {
    pub(crate) digest: String,
    pub(crate) from: Slot,
    pub(crate) to: Slot,
    pub(crate) record_len: u64,
}

/// The handle uploads use to reach the packer.
#[derive(Clone)]
pub(crate) struct Packer {
    jobs: mpsc::UnboundedSender<Job>,
}

/// The packer's end of the queue, until its thread is started.
pub(crate) struct Jobs(mpsc::UnboundedReceiver<Job>);

impl Packer {
    /// The queue between uploads and the packer; start the thread with [`Packer::spawn`].
    pub(crate) fn channel() -> (Packer, Jobs) {
        let (jobs, rx) = mpsc::unbounded_channel();
        (Packer { jobs }, Jobs(rx))
    }

    /// Starts the packer thread for the store behind `inner`; new packs are numbered
    /// from `next_pack`. The thread ends when the store is dropped (and with it the
    /// queue's sending end).
    pub(crate) fn spawn(inner: Weak<Inner>, jobs: Jobs, next_pack: u32) -> std::io::Result<()> {
        std::thread::Builder::new().name("cache-packer".into()).spawn(move || run(inner, jobs.0, next_pack))?;
        Ok(())
    }

    /// Appends an upload and links its key once it is on disk.
    pub(crate) async fn put(&self, key: String, entry: Entry, data: Bytes, no_overwrite: bool) -> Result<Entry, PutError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job::Put { key, entry, data, no_overwrite, reply })
            .map_err(|_| PutError::Io(std::io::Error::other("the store is shutting down")))?;
        answer.await.map_err(|_| PutError::Io(std::io::Error::other("the packer stopped before answering")))?
    }

    /// Queues the compaction of a sealed pack.
    pub(crate) fn compact(&self, pack: u32) {
        let _ = self.jobs.send(Job::Compact { pack });
    }
}

/// The pack being appended to.
struct Current {
    id: u32,
    file: Arc<File>,
    len: u64,
}

/// The packer's loop: take what has queued, write it as one group, link, answer.
fn run(inner: Weak<Inner>, mut rx: mpsc::UnboundedReceiver<Job>, mut next_pack: u32) {
    let mut current: Option<Current> = None;
    while let Some(first) = rx.blocking_recv() {
        let mut puts = Vec::new();
        let mut compactions = Vec::new();
        let mut bytes = 0usize;
        let mut job = Some(first);
        while let Some(next) = job.take() {
            match next {
                Job::Put { key, entry, data, no_overwrite, reply } => {
                    bytes += data.len() + HEADER as usize;
                    puts.push((key, entry, data, no_overwrite, reply));
                }
                Job::Compact { pack } => compactions.push(pack),
            }
            if bytes < GROUP_BYTES {
                job = rx.try_recv().ok();
            }
        }
        let Some(inner) = inner.upgrade() else { return };
        let store = Store { inner };
        if !puts.is_empty() {
            write_group(&store, &mut current, &mut next_pack, puts);
        }
        for pack in compactions {
            if let Err(err) = compact(&store, &mut current, &mut next_pack, pack) {
                tracing::error!(pack, error = %err, "could not compact a pack");
                store.compaction_failed(pack);
            }
        }
    }
}

type PendingPut = (String, Entry, Bytes, bool, oneshot::Sender<Result<Entry, PutError>>);

fn write_group(store: &Store, current: &mut Option<Current>, next_pack: &mut u32, puts: Vec<PendingPut>) {
    let total: usize = puts.iter().map(|p| p.2.len() + HEADER as usize).sum();
    let mut buf = Vec::with_capacity(total);
    let mut appended = Vec::with_capacity(puts.len());
    let mut replies = Vec::with_capacity(puts.len());
    let written = (|| -> std::io::Result<(u32, u64)> {
        let pack = writable(store, current, next_pack)?;
        for (key, mut entry, data, no_overwrite, reply) in puts {
            entry.slot = Some(Slot { pack: pack.id, offset: pack.len + buf.len() as u64 });
            push_record(&mut buf, &entry.blob, &data);
            appended.push(Appended { key, entry, no_overwrite, record_len: HEADER + data.len() as u64 });
            replies.push(reply);
        }
        append(pack, &buf, store.inner.config.fsync)?;
        Ok((pack.id, pack.len))
    })();
    match written {
        Ok((pack, len)) => {
            let results = store.link_packed(pack, len, appended);
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(result);
            }
        }
        Err(err) => {
            tracing::error!(error = %err, uploads = replies.len(), "could not write a group of uploads to a pack");
            // The bytes written (if any) are dead: start the next group on a fresh pack.
            *current = None;
            for reply in replies {
                let _ = reply.send(Err(PutError::Io(std::io::Error::new(err.kind(), err.to_string()))));
            }
        }
    }
}

/// The current pack, starting a new one when there is none or it is full.
fn writable<'a>(store: &Store, current: &'a mut Option<Current>, next_pack: &mut u32) -> std::io::Result<&'a mut Current> {
    let full = current.as_ref().is_none_or(|c| c.len >= store.inner.config.pack_size);
    if full {
        let id = *next_pack;
        *next_pack += 1;
        let path = pack_path(&store.inner.packs, id);
        let file = Arc::new(OpenOptions::new().read(true).write(true).create_new(true).open(&path)?);
        // The new file's name must survive a crash as well as its records.
        File::open(&store.inner.packs)?.sync_all()?;
        store.pack_started(id, file.clone());
        *current = Some(Current { id, file, len: 0 });
    }
    Ok(current.as_mut().expect("set above"))
}

fn append(pack: &mut Current, buf: &[u8], fsync: bool) -> std::io::Result<()> {
    let at = pack.len;
    // Whatever happens, these bytes are taken: a failed write leaves dead space, never
    // a record another group could overwrite.
    pack.len += buf.len() as u64;
    pack.file.write_all_at(buf, at)?;
    if fsync {
        pack.file.sync_data()?;
    }
    Ok(())
}

/// Copies the live records of `pack` into the current pack, repoints the index, then
/// deletes `pack`.
fn compact(store: &Store, current: &mut Option<Current>, next_pack: &mut u32, pack: u32) -> std::io::Result<()> {
    let Some((file, live)) = store.live_records(pack) else { return Ok(()) };
    let mut buf = Vec::new();
    let mut moves = Vec::with_capacity(live.len());
    let target = writable(store, current, next_pack)?;
    for Live { digest, slot, size } in live {
        let data = read_record(&file, slot, size)?;
        let to = Slot { pack: target.id, offset: target.len + buf.len() as u64 };
        push_record(&mut buf, &digest, &data);
        moves.push(Moved { digest, from: slot, to, record_len: HEADER + size });
    }
    // Always synced: the old copies are deleted next.
    append(target, &buf, true)?;
    let len = target.len;
    let target_id = target.id;
    store.repoint(pack, target_id, len, moves)
}
