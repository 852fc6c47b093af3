//! The artifact store: content-addressed files on disk plus an in-memory index that
//! a journal makes survive restarts.
//!
//! Layout under the data directory:
//!
//! ```text
//! blobs/ab/cd/abcd…(BLAKE3 of the content)   one file per distinct content over PACK_MAX, read-only
//! packs/00000001.pack                        small contents appended together (see `pack`)
//! tmp/                                       uploads in progress (emptied at start)
//! index.journal                              the key → entry index (see `journal`)
//! ```
//!
//! A PUT of more than [`PACK_MAX`] bytes streams the body into a file under `tmp/`
//! while hashing it, fsyncs it, then (under the index lock) renames it to its content
//! address and points the key at it. A reader therefore only ever opens complete files;
//! an upload that fails or is dropped midway removes its temporary file; two PUTs of
//! one key each write their own temporary file and the last to commit wins. A smaller
//! PUT is read whole, hashed, and handed to the packer, which appends it to a pack with
//! others that arrived together and fsyncs them once before linking their keys (see
//! [`pack`] for why, and for how dead records are compacted). Keys with the same content
//! share one blob, counted once against the size cap; a PUT whose content is already
//! stored writes nothing at all.
//!
//! ## Why the index is a journal, not a database
//!
//! The index (key → content, size, metadata, last access, hits) lives in memory: every
//! GET reads it and eviction sorts it. What must survive a restart is only its changes,
//! and the cheapest durable form of those is one appended JSON line per PUT or DELETE
//! (`index.journal`), written with a single `write` so a crash tears at most the last
//! line, which replay skips. Access statistics change on every GET, so they are gathered
//! in memory and appended as `touch` lines once a second (with an fsync of the journal).
//! At start the journal is replayed, checked against the files on disk (entries without
//! a file are dropped, files without an entry deleted) and rewritten compactly; it is
//! compacted again whenever it grows past twice the live entries. A SQLite index
//! (zzz_db) would add a write transaction to every PUT and a driver to the binary for no
//! query this server needs. After a power loss the last second of access statistics
//! and index lines may be lost — a cache forgets those entries, it never serves a wrong
//! or partial one, because content files are fsynced before they are renamed into place.

mod eviction;
mod hot;
mod journal;
pub mod pack;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zzz::Body;

pub use eviction::Policy;
use journal::{Journal, Record};
pub use pack::{PACK_MAX, Slot};
use pack::{Appended, Live, Moved, Pack, Packer};

/// Bodies up to this size are read into memory and written (or read) in one step on
/// the blocking pool; larger ones are streamed in chunks of this size, so memory per
/// request stays bounded whatever the artifact's size.
pub const SMALL_ARTIFACT: u64 = 1024 * 1024;

/// One stored key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The content's address: its BLAKE3 hash (hex), the blob's file name.
    pub blob: String,
    /// Size in bytes.
    pub size: u64,
    /// When it was written, Unix milliseconds.
    pub created: u64,
    /// Last read, Unix milliseconds.
    pub accessed: u64,
    /// Reads so far.
    pub hits: u64,
    /// Headers stored with the artifact and sent back with it (Turborepo's
    /// `x-artifact-duration` and `x-artifact-tag`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub meta: Vec<(String, String)>,
    /// Where the content is when it is packed (`None`: in its own file under `blobs/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<Slot>,
}

/// The store's settings.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The data directory.
    pub dir: PathBuf,
    /// The size cap over all distinct contents, in bytes.
    pub max_size: u64,
    /// The largest single artifact, in bytes.
    pub max_artifact: u64,
    /// The eviction policy.
    pub policy: Policy,
    /// fsync each artifact before it is renamed into place (default). Off, a power
    /// loss may lose (never corrupt into a wrong size) the last seconds of writes.
    pub fsync: bool,
    /// The size past which a pack is sealed and the next one started (see [`pack`]).
    pub pack_size: u64,
    /// Bytes of recently read small contents kept in memory (0: none; see `hot`).
    pub memory_cache: u64,
}

/// What a PUT asks of the store besides the bytes.
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    /// Headers to keep with the artifact.
    pub meta: Vec<(String, String)>,
    /// The content must hash to this sha256 (hex), as for Bazel's CAS.
    pub expect_sha256: Option<String>,
    /// Refuse to replace an existing key (Nx's 409).
    pub no_overwrite: bool,
    /// The declared length (`Content-Length`), if any.
    pub declared_len: Option<u64>,
}

/// Why a PUT was not stored.
#[derive(Debug)]
pub enum PutError {
    /// The body is larger than the limit.
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The client stopped sending midway (or the connection failed).
    Aborted(String),
    /// The content does not hash to the expected digest.
    DigestMismatch {
        /// The digest the key names.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// The key exists and overwriting was refused.
    Exists,
    /// The disk failed.
    Io(std::io::Error),
}

impl std::fmt::Display for PutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PutError::TooLarge { limit } => write!(f, "the artifact is larger than the limit of {limit} bytes"),
            PutError::Aborted(why) => write!(f, "the upload was aborted: {why}"),
            PutError::DigestMismatch { expected, actual } => {
                write!(f, "the content hashes to sha256 {actual}, not to its key {expected}")
            }
            PutError::Exists => f.write_str("an artifact with this key exists and cannot be overwritten"),
            PutError::Io(err) => write!(f, "storage error: {err}"),
        }
    }
}

impl From<std::io::Error> for PutError {
    fn from(err: std::io::Error) -> Self {
        PutError::Io(err)
    }
}

/// A stored artifact ready to send.
pub struct Artifact {
    /// The content, streamed from disk (or in memory when small).
    pub body: Body,
    /// Its size.
    pub size: u64,
    /// Its stored headers.
    pub meta: Vec<(String, String)>,
}

/// Totals for metrics and the status page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Keys stored.
    pub entries: u64,
    /// Bytes on disk (distinct contents).
    pub bytes: u64,
    /// Entries evicted since start.
    pub evictions: u64,
    /// Distinct contents (keys with the same bytes share one).
    pub contents: u64,
    /// Pack files of small contents.
    pub packs: u64,
    /// Bytes in pack files no key points at any more (reclaimed by compaction).
    pub dead_bytes: u64,
    /// Bytes of contents held in memory for fast reads.
    pub memory_cache_bytes: u64,
}

/// One namespace's share of the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceStats {
    /// `protocol/namespace`.
    pub name: String,
    /// Keys.
    pub entries: u64,
    /// Bytes (as if not shared).
    pub bytes: u64,
    /// Reads.
    pub hits: u64,
}

/// The artifact store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    config: StoreConfig,
    blobs: PathBuf,
    packs: PathBuf,
    tmp: PathBuf,
    index: Mutex<Index>,
    hot: hot::Hot,
    packer: Packer,
    evictions: AtomicU64,
    tmp_counter: AtomicU64,
}

struct Index {
    entries: HashMap<String, Entry>,
    /// Content digest → where it is and how many keys point at it.
    blobs: HashMap<String, Blob>,
    /// The packs on disk.
    packs: HashMap<u32, Pack>,
    /// The pack the packer appends to (never compacted).
    current_pack: Option<u32>,
    total: u64,
    dirty: HashSet<String>,
    journal: Journal,
}

/// One distinct content.
struct Blob {
    size: u64,
    /// Keys pointing at it.
    refs: u32,
    /// Its record, when packed.
    slot: Option<Slot>,
}

/// The address of a content: its BLAKE3 hash in hex (the name of its blob).
pub fn content_address(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn blob_path(blobs: &Path, digest: &str) -> PathBuf {
    blobs.join(&digest[..2]).join(&digest[2..4]).join(digest)
}

impl Store {
    /// Opens (or creates) the store in `config.dir`: replays and compacts the journal,
    /// drops entries whose file or pack record is gone or torn, removes unreferenced
    /// files, packs and unfinished uploads, starts the packer, then evicts down to the cap.
    pub fn open(config: StoreConfig) -> std::io::Result<Store> {
        let blobs = config.dir.join("blobs");
        let packs_dir = config.dir.join("packs");
        let tmp = config.dir.join("tmp");
        std::fs::create_dir_all(&blobs)?;
        std::fs::create_dir_all(&packs_dir)?;
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp)?;
        let journal_path = config.dir.join("index.journal");
        let mut entries = Journal::replay(&journal_path)?;

        // Every entry must have its file or record; every file and pack must have an entry.
        let mut on_disk: HashMap<String, u64> = HashMap::new();
        for shard in std::fs::read_dir(&blobs)? {
            let shard = shard?.path();
            if !shard.is_dir() {
                continue;
            }
            for sub in std::fs::read_dir(&shard)? {
                let sub = sub?.path();
                if !sub.is_dir() {
                    continue;
                }
                for file in std::fs::read_dir(&sub)? {
                    let file = file?;
                    let name = file.file_name().to_string_lossy().into_owned();
                    on_disk.insert(name, file.metadata()?.len());
                }
            }
        }
        let mut packs: HashMap<u32, Pack> = HashMap::new();
        for file in std::fs::read_dir(&packs_dir)? {
            let file = file?;
            let name = file.file_name().to_string_lossy().into_owned();
            match pack::pack_id(&name) {
                Some(id) => {
                    let opened = pack::open_pack(&file.path())?;
                    let len = opened.metadata()?.len();
                    packs.insert(id, Pack { file: Arc::new(opened), len, dead: len, compacting: false });
                }
                None => {
                    let _ = std::fs::remove_file(file.path());
                }
            }
        }
        let before = entries.len();
        let mut checked: HashMap<String, bool> = HashMap::new();
        entries.retain(|_, e| match e.slot {
            None => on_disk.get(&e.blob) == Some(&e.size),
            Some(slot) => *checked.entry(e.blob.clone()).or_insert_with(|| {
                packs.get(&slot.pack).is_some_and(|p| {
                    slot.offset + pack::HEADER + e.size <= p.len && pack::record_matches(&p.file, slot, e.size, &e.blob)
                })
            }),
        });
        if entries.len() < before {
            tracing::warn!(dropped = before - entries.len(), "index entries whose file or pack record was missing or torn were dropped");
        }
        let mut blob_refs: HashMap<String, Blob> = HashMap::new();
        for entry in entries.values() {
            let blob = blob_refs.entry(entry.blob.clone()).or_insert(Blob { size: entry.size, refs: 0, slot: entry.slot });
            blob.refs += 1;
        }
        for blob in blob_refs.values() {
            if let Some(slot) = blob.slot
                && let Some(pack) = packs.get_mut(&slot.pack)
            {
                pack.dead = pack.dead.saturating_sub(pack::HEADER + blob.size);
            }
        }
        let mut orphans = 0;
        for name in on_disk.keys() {
            if blob_refs.get(name).is_none_or(|b| b.slot.is_some()) && name.len() >= 4 {
                let _ = std::fs::remove_file(blob_path(&blobs, name));
                orphans += 1;
            }
        }
        packs.retain(|id, pack| {
            let unused = pack.dead == pack.len;
            if unused {
                let _ = std::fs::remove_file(pack::pack_path(&packs_dir, *id));
                orphans += 1;
            }
            !unused
        });
        if orphans > 0 {
            tracing::info!(orphans, "removed stored files and packs no index entry points at");
        }
        let next_pack = packs.keys().max().map_or(1, |id| id + 1);
        let total = blob_refs.values().map(|b| b.size).sum();
        let journal = Journal::rewrite(&journal_path, entries.iter())?;
        let (packer, jobs) = Packer::channel();
        let hot = hot::Hot::new(config.memory_cache);
        let index = Index { entries, blobs: blob_refs, packs, current_pack: None, total, dirty: HashSet::new(), journal };
        let inner = Arc::new(Inner {
            config,
            blobs,
            packs: packs_dir,
            tmp,
            index: Mutex::new(index),
            hot,
            packer,
            evictions: AtomicU64::new(0),
            tmp_counter: AtomicU64::new(0),
        });
        Packer::spawn(Arc::downgrade(&inner), jobs, next_pack)?;
        let store = Store { inner };
        {
            let mut index = store.lock();
            store.expire_locked(&mut index, now_ms());
            store.evict_locked(&mut index);
        }
        Ok(store)
    }

    /// The store's settings.
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    fn lock(&self) -> MutexGuard<'_, Index> {
        self.inner.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The entry of a key, without counting a read.
    pub fn peek(&self, key: &str) -> Option<Entry> {
        self.lock().entries.get(key).cloned()
    }

    /// Opens a key's artifact for reading and counts the read (`None`: a miss).
    pub async fn get(&self, key: &str) -> std::io::Result<Option<Artifact>> {
        self.read(key, true).await
    }

    /// Opens a key's artifact; `count` says whether this is a client's read (which
    /// updates the access statistics eviction uses) or the server's own.
    pub async fn read(&self, key: &str, count: bool) -> std::io::Result<Option<Artifact>> {
        let (place, entry) = {
            let mut index = self.lock();
            let Some(entry) = index.entries.get_mut(key) else { return Ok(None) };
            if count {
                entry.accessed = now_ms();
                entry.hits += 1;
            }
            let entry = entry.clone();
            if count && !index.dirty.contains(key) {
                index.dirty.insert(key.to_owned());
            }
            let place = match entry.slot {
                None => Place::File(blob_path(&self.inner.blobs, &entry.blob)),
                Some(slot) => match index.packs.get(&slot.pack) {
                    Some(pack) => Place::Pack(pack.file.clone(), slot),
                    None => return Ok(None),
                },
            };
            (place, entry)
        };
        let size = entry.size;
        if size <= SMALL_ARTIFACT
            && let Some(bytes) = self.inner.hot.get(&entry.blob)
        {
            return Ok(Some(Artifact { body: Body::from(bytes), size, meta: entry.meta }));
        }
        let store = self.clone();
        let digest = entry.blob.clone();
        let opened = tokio::task::spawn_blocking(move || -> std::io::Result<Body> {
            let bytes = match place {
                Place::Pack(file, slot) => Bytes::from(pack::read_record(&file, slot, size)?),
                Place::File(path) => {
                    let mut file = std::fs::File::open(&path)?;
                    if size > SMALL_ARTIFACT {
                        return Ok(Body::from_file(file, size));
                    }
                    let mut buf = Vec::with_capacity(size as usize);
                    std::io::Read::read_to_end(&mut file, &mut buf)?;
                    Bytes::from(buf)
                }
            };
            store.inner.hot.insert(&digest, bytes.clone());
            Ok(Body::from(bytes))
        })
        .await
        .map_err(std::io::Error::other)?;
        match opened {
            Ok(body) => Ok(Some(Artifact { body, size, meta: entry.meta })),
            // Evicted between the lookup and the open: a miss.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Stores a body under a key (see the module docs for the steps).
    pub async fn put(&self, key: &str, body: Body, options: PutOptions) -> Result<Entry, PutError> {
        let limit = self.inner.config.max_artifact.min(self.inner.config.max_size);
        if options.no_overwrite && self.lock().entries.contains_key(key) {
            return Err(PutError::Exists);
        }
        if let Some(declared) = options.declared_len
            && declared > limit
        {
            return Err(PutError::TooLarge { limit });
        }
        let n = self.inner.tmp_counter.fetch_add(1, Ordering::Relaxed);
        let mut tmp = TempFile(Some(self.inner.tmp.join(format!("{}-{n}.part", std::process::id()))));
        let mut hasher = blake3::Hasher::new();
        // Contents are addressed by BLAKE3 (several times cheaper per byte than sha256
        // here); sha256 is computed only to check a Bazel CAS upload against its key.
        let mut sha256 = options.expect_sha256.as_ref().map(|_| Sha256::new());
        let mut size = 0u64;
        let mut body = body;
        // Received frames are kept as they came (no copy) until a chunk's worth is
        // there, then written with one vectored write.
        let mut chunk: Vec<Bytes> = Vec::new();
        let mut chunk_len = 0u64;
        // The file is created with the first full chunk; a body that fits one chunk is
        // written, synced and committed in a single step on the blocking pool.
        let mut file: Option<std::fs::File> = None;
        while let Some(data) = next_data(&mut body).await? {
            size += data.len() as u64;
            if size > limit {
                return Err(PutError::TooLarge { limit });
            }
            hasher.update(&data);
            if let Some(sha256) = sha256.as_mut() {
                sha256.update(&data);
            }
            chunk_len += data.len() as u64;
            chunk.push(data);
            if chunk_len >= SMALL_ARTIFACT {
                let full = std::mem::take(&mut chunk);
                chunk_len = 0;
                let path = tmp.path().to_path_buf();
                let open = file.take();
                file = Some(blocking(move || {
                    let mut f = match open {
                        Some(f) => f,
                        None => create_new(&path)?,
                    };
                    write_parts(&mut f, &full)?;
                    Ok(f)
                })
                .await?);
            }
        }
        let digest = hasher.finalize().to_hex().to_string();
        if let (Some(expected), Some(sha256)) = (options.expect_sha256, sha256) {
            let actual = hex::encode(sha256.finalize());
            if expected != actual {
                return Err(PutError::DigestMismatch { expected, actual });
            }
        }
        let store = self.clone();
        let key = key.to_owned();
        let entry = Entry { blob: digest, size, created: now_ms(), accessed: now_ms(), hits: 0, meta: options.meta, slot: None };
        let fsync = self.inner.config.fsync;
        let no_overwrite = options.no_overwrite;
        if file.is_none() {
            // Content already stored (content addressing): nothing to write.
            if let Some(done) = store.commit_existing(&key, &entry, no_overwrite) {
                tmp.disarm();
                return done;
            }
            if size <= PACK_MAX {
                tmp.disarm();
                let data = match chunk.len() {
                    1 => chunk.pop().expect("one part"),
                    _ => Bytes::from(chunk.concat()),
                };
                return self.inner.packer.put(key, entry, data, no_overwrite).await;
            }
        }
        blocking(move || {
            let mut f = match file {
                Some(f) => f,
                None => create_new(tmp.path())?,
            };
            write_parts(&mut f, &chunk)?;
            if fsync {
                f.sync_data()?;
            }
            drop(f);
            store.commit(key, tmp, entry, no_overwrite)
        })
        .await
    }

    /// Points `key` at an already stored content, when it is stored (`None` if not).
    fn commit_existing(&self, key: &str, entry: &Entry, no_overwrite: bool) -> Option<Result<Entry, PutError>> {
        let mut index = self.lock();
        if !index.blobs.contains_key(&entry.blob) {
            return None;
        }
        let mut records = Vec::with_capacity(1);
        let linked = self.link_locked(&mut index, key.to_owned(), entry.clone(), no_overwrite, &mut records);
        Some(linked.and_then(|entry| {
            index.journal.append_all(&records)?;
            self.evict_locked(&mut index);
            Ok(entry)
        }))
    }

    /// Points `key` at the uploaded file: renames it to its content address (or drops
    /// it when that content is stored already), updates the index and journal, evicts.
    fn commit(&self, key: String, mut tmp: TempFile, entry: Entry, no_overwrite: bool) -> Result<Entry, PutError> {
        let mut index = self.lock();
        if no_overwrite && index.entries.contains_key(&key) {
            return Err(PutError::Exists);
        }
        let target = blob_path(&self.inner.blobs, &entry.blob);
        if index.blobs.contains_key(&entry.blob) {
            drop(tmp);
        } else {
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::rename(tmp.path(), &target)?;
            tmp.disarm();
        }
        let mut records = Vec::with_capacity(1);
        let entry = self.link_locked(&mut index, key, entry, no_overwrite, &mut records)?;
        index.journal.append_all(&records)?;
        self.evict_locked(&mut index);
        Ok(entry)
    }

    /// Links a group the packer has written to pack `pack` (now `len` bytes long):
    /// each key in the index, all of them in one journal write, then evicts. A record
    /// whose key was refused, or whose content turned out to be stored already, is dead.
    pub(crate) fn link_packed(&self, pack: u32, len: u64, group: Vec<Appended>) -> Vec<Result<Entry, PutError>> {
        let mut index = self.lock();
        if let Some(p) = index.packs.get_mut(&pack) {
            p.len = len;
        }
        let mut records = Vec::with_capacity(group.len());
        let mut dead = 0;
        let mut results: Vec<Result<Entry, PutError>> = Vec::with_capacity(group.len());
        for appended in group {
            let stored_already = index.blobs.contains_key(&appended.entry.blob);
            let linked = self.link_locked(&mut index, appended.key, appended.entry, appended.no_overwrite, &mut records);
            if stored_already || linked.is_err() {
                dead += appended.record_len;
            }
            results.push(linked);
        }
        if let Some(p) = index.packs.get_mut(&pack) {
            p.dead += dead;
        }
        if let Err(err) = index.journal.append_all(&records) {
            tracing::error!(error = %err, "could not journal a group of uploads");
            return results.into_iter().map(|_| Err(PutError::Io(std::io::Error::new(err.kind(), err.to_string())))).collect();
        }
        self.evict_locked(&mut index);
        results
    }

    /// Records `key → entry` in the index (its content is in place: a file, a pack
    /// record, or an existing blob) and adds the journal line to `records`.
    fn link_locked(&self, index: &mut Index, key: String, mut entry: Entry, no_overwrite: bool, records: &mut Vec<Record>) -> Result<Entry, PutError> {
        if no_overwrite && index.entries.contains_key(&key) {
            return Err(PutError::Exists);
        }
        let blob = index.blobs.entry(entry.blob.clone()).or_insert(Blob { size: entry.size, refs: 0, slot: entry.slot });
        // Content stored already: the key shares it, wherever it is.
        entry.slot = blob.slot;
        blob.refs += 1;
        if blob.refs == 1 {
            index.total += entry.size;
        }
        records.push(Record::Put { k: key.clone(), e: entry.clone() });
        if let Some(old) = index.entries.insert(key, entry.clone()) {
            self.release_locked(index, &old);
        }
        Ok(entry)
    }

    /// Deletes a key; whether it existed.
    pub fn delete(&self, key: &str) -> std::io::Result<bool> {
        let mut index = self.lock();
        let Some(old) = index.entries.remove(key) else { return Ok(false) };
        index.dirty.remove(key);
        index.journal.append(&Record::Del { k: key.to_owned() })?;
        self.release_locked(&mut index, &old);
        Ok(true)
    }

    /// Drops one reference to an entry's blob; with the last one its file is deleted
    /// (or its pack record becomes dead space).
    fn release_locked(&self, index: &mut Index, old: &Entry) {
        let Some(blob) = index.blobs.get_mut(&old.blob) else { return };
        blob.refs = blob.refs.saturating_sub(1);
        if blob.refs == 0 {
            let (size, slot) = (blob.size, blob.slot);
            index.blobs.remove(&old.blob);
            self.inner.hot.remove(&old.blob);
            index.total = index.total.saturating_sub(size);
            match slot {
                Some(slot) => {
                    if let Some(pack) = index.packs.get_mut(&slot.pack) {
                        pack.dead += pack::HEADER + size;
                    }
                }
                None => {
                    if let Err(err) = std::fs::remove_file(blob_path(&self.inner.blobs, &old.blob))
                        && err.kind() != std::io::ErrorKind::NotFound
                    {
                        tracing::error!(blob = %old.blob, error = %err, "could not remove an evicted file");
                    }
                }
            }
        }
    }

    /// The packer started pack `id`: readers can find it from now on.
    pub(crate) fn pack_started(&self, id: u32, file: Arc<std::fs::File>) {
        let mut index = self.lock();
        index.packs.insert(id, Pack { file, len: 0, dead: 0, compacting: false });
        index.current_pack = Some(id);
    }

    /// A sealed pack's file and its live records, for compaction.
    pub(crate) fn live_records(&self, pack: u32) -> Option<(Arc<std::fs::File>, Vec<Live>)> {
        let index = self.lock();
        let file = index.packs.get(&pack)?.file.clone();
        let live = index
            .blobs
            .iter()
            .filter_map(|(digest, b)| b.slot.filter(|s| s.pack == pack).map(|slot| Live { digest: digest.clone(), slot, size: b.size }))
            .collect();
        Some((file, live))
    }

    /// After a compaction copied records into pack `target` (now `len` bytes): points
    /// blobs and keys at the copies, journals and fsyncs that, then deletes the old pack.
    pub(crate) fn repoint(&self, old: u32, target: u32, len: u64, moves: Vec<Moved>) -> std::io::Result<()> {
        let mut index = self.lock();
        let mut moved: HashMap<String, Slot> = HashMap::with_capacity(moves.len());
        let mut dead = 0;
        for Moved { digest, from, to, record_len } in moves {
            match index.blobs.get_mut(&digest) {
                Some(blob) if blob.slot == Some(from) => {
                    blob.slot = Some(to);
                    moved.insert(digest, to);
                }
                // Released (or replaced) while being copied: the copy is dead.
                _ => dead += record_len,
            }
        }
        if let Some(p) = index.packs.get_mut(&target) {
            p.len = len;
            p.dead += dead;
        }
        let mut records = Vec::new();
        for (key, entry) in index.entries.iter_mut() {
            if let Some(to) = moved.get(&entry.blob) {
                entry.slot = Some(*to);
                records.push(Record::Put { k: key.clone(), e: entry.clone() });
            }
        }
        index.journal.append_all(&records)?;
        index.journal.sync()?;
        index.packs.remove(&old);
        std::fs::remove_file(pack::pack_path(&self.inner.packs, old))?;
        tracing::info!(pack = old, into = target, moved = moved.len(), "compacted a pack");
        Ok(())
    }

    /// A compaction failed: the pack stays as it is, and may be tried again later.
    pub(crate) fn compaction_failed(&self, pack: u32) {
        if let Some(p) = self.lock().packs.get_mut(&pack) {
            p.compacting = false;
        }
    }

    /// Sealed packs that are at least half dead: empty ones are deleted now, the others
    /// queued for the packer to compact.
    fn collect_packs_locked(&self, index: &mut Index) {
        let current = index.current_pack;
        let mut empty = Vec::new();
        for (id, pack) in index.packs.iter_mut() {
            if Some(*id) == current || pack.compacting || pack.len == 0 || pack.dead * 2 < pack.len {
                continue;
            }
            if pack.dead >= pack.len {
                empty.push(*id);
            } else {
                pack.compacting = true;
                self.inner.packer.compact(*id);
            }
        }
        for id in empty {
            index.packs.remove(&id);
            if let Err(err) = std::fs::remove_file(pack::pack_path(&self.inner.packs, id)) {
                tracing::error!(pack = id, error = %err, "could not remove an empty pack");
            }
        }
    }

    fn evict_locked(&self, index: &mut Index) {
        let cap = self.inner.config.max_size;
        if index.total <= cap {
            return;
        }
        let blobs = &index.blobs;
        let victims = eviction::victims(self.inner.config.policy, index.entries.iter(), index.total, cap, |e| {
            if blobs.get(&e.blob).is_some_and(|b| b.refs <= 1) { e.size } else { 0 }
        });
        self.remove_locked(index, victims, "evicted");
    }

    fn expire_locked(&self, index: &mut Index, now: u64) {
        let policy = self.inner.config.policy;
        if !matches!(policy, Policy::Ttl(_)) {
            return;
        }
        let expired: Vec<String> = index.entries.iter().filter(|(_, e)| policy.expired(e, now)).map(|(k, _)| k.clone()).collect();
        self.remove_locked(index, expired, "expired");
    }

    fn remove_locked(&self, index: &mut Index, keys: Vec<String>, why: &str) {
        if keys.is_empty() {
            return;
        }
        let count = keys.len();
        let mut records = Vec::with_capacity(count);
        for key in keys {
            if let Some(old) = index.entries.remove(&key) {
                index.dirty.remove(&key);
                self.release_locked(index, &old);
                records.push(Record::Del { k: key });
            }
        }
        if let Err(err) = index.journal.append_all(&records) {
            tracing::error!(error = %err, "could not journal evictions");
        }
        self.inner.evictions.fetch_add(count as u64, Ordering::Relaxed);
        tracing::info!(count, why, total_bytes = index.total, "entries removed");
    }

    /// Removes entries past their time to live (TTL policy only).
    pub fn expire(&self) {
        let mut index = self.lock();
        self.expire_locked(&mut index, now_ms());
    }

    /// Writes the access statistics gathered since the last call to the journal,
    /// fsyncs it, and compacts it when it has grown past twice the live entries.
    pub fn flush(&self) -> std::io::Result<()> {
        let mut index = self.lock();
        let dirty = std::mem::take(&mut index.dirty);
        let records: Vec<Record> = dirty
            .into_iter()
            .filter_map(|k| index.entries.get(&k).map(|e| Record::Touch { a: e.accessed, h: e.hits, k }))
            .collect();
        if !records.is_empty() {
            index.journal.append_all(&records)?;
        }
        self.collect_packs_locked(&mut index);
        if index.journal.records > 2 * index.entries.len() as u64 + 4096 {
            let path = index.journal.path().to_path_buf();
            index.journal = Journal::rewrite(&path, index.entries.iter())?;
        } else {
            index.journal.sync()?;
        }
        Ok(())
    }

    /// Flushes once a second (and expires entries, for the TTL policy) until the
    /// returned task is aborted.
    pub fn spawn_maintenance(&self) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let store = store.clone();
                let done = tokio::task::spawn_blocking(move || {
                    store.expire();
                    store.flush()
                })
                .await;
                if let Ok(Err(err)) = done {
                    tracing::error!(error = %err, "could not write the index journal");
                }
            }
        })
    }

    /// Totals.
    pub fn stats(&self) -> StoreStats {
        let index = self.lock();
        StoreStats {
            entries: index.entries.len() as u64,
            bytes: index.total,
            evictions: self.inner.evictions.load(Ordering::Relaxed),
            contents: index.blobs.len() as u64,
            packs: index.packs.len() as u64,
            dead_bytes: index.packs.values().map(|p| p.dead).sum(),
            memory_cache_bytes: self.inner.hot.bytes(),
        }
    }

    /// Per-namespace totals (the first two `/`-separated parts of the keys), largest first.
    pub fn namespaces(&self, limit: usize) -> Vec<NamespaceStats> {
        let index = self.lock();
        let mut by: HashMap<&str, NamespaceStats> = HashMap::new();
        for (key, entry) in &index.entries {
            let name = key.match_indices('/').nth(1).map_or(key.as_str(), |(i, _)| &key[..i]);
            let stats = by.entry(name).or_insert_with(|| NamespaceStats { name: name.to_owned(), entries: 0, bytes: 0, hits: 0 });
            stats.entries += 1;
            stats.bytes += entry.size;
            stats.hits += entry.hits;
        }
        let mut out: Vec<NamespaceStats> = by.into_values().collect();
        out.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
        out.truncate(limit);
        out
    }

    /// Whether the data directory is writable (for `/ready`).
    pub fn writable(&self) -> bool {
        let probe = self.inner.tmp.join(format!("ready-{}", self.inner.tmp_counter.fetch_add(1, Ordering::Relaxed)));
        let ok = std::fs::write(&probe, b"ok").is_ok();
        let _ = std::fs::remove_file(&probe);
        ok
    }
}

/// Where a read finds its bytes.
enum Place {
    File(PathBuf),
    Pack(Arc<std::fs::File>, Slot),
}

/// Runs disk work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T, PutError> + Send + 'static) -> Result<T, PutError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| PutError::Io(std::io::Error::other(e)))?
}

/// Writes every part, in order, with as few (vectored) writes as the kernel allows.
fn write_parts(file: &mut std::fs::File, parts: &[Bytes]) -> std::io::Result<()> {
    use std::io::{IoSlice, Write};
    let mut slices: Vec<IoSlice<'_>> = parts.iter().filter(|p| !p.is_empty()).map(|p| IoSlice::new(p)).collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        // At most IOV_MAX (1024 on Linux) buffers per call.
        let n = file.write_vectored(&rest[..rest.len().min(1024)])?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut rest, n);
    }
    Ok(())
}

fn create_new(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().write(true).create_new(true).open(path)
}

/// The next data frame of a body (trailers are skipped); a failed read is an aborted upload.
async fn next_data(body: &mut Body) -> Result<Option<Bytes>, PutError> {
    loop {
        match body.frame().await {
            None => return Ok(None),
            Some(Err(err)) => return Err(PutError::Aborted(err.to_string())),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
            }
        }
    }
}

/// A temporary upload file, removed when dropped unless disarmed (renamed into place).
/// This is what cleans up after an upload whose client disconnected: hyper drops the
/// request's future, and with it this guard.
struct TempFile(Option<PathBuf>);

impl TempFile {
    fn path(&self) -> &Path {
        self.0.as_deref().expect("a temp file is armed until disarmed")
    }

    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}
