//! AEAD-sealed secrets at rest.
//!
//! Every node secret (key shares, aux info, presignatures, primes, identity keys) is stored as one
//! file `dir/<kind>/<id>.sealed`, sealed with XChaCha20-Poly1305 under a 32-byte key derived from a
//! passphrase (Argon2id) or read from a key file. The associated data binds the file to its node,
//! kind and id, so a file that is modified, renamed, or copied from another node's keystore fails
//! authentication instead of being silently accepted.
//!
//! File layout: `b"TWKS"` magic, format version byte (1), kind code byte, 24-byte nonce,
//! ciphertext with its 16-byte tag.
//!
//! `dir/keystore.json` (not secret) records the format version, node id, salt, KDF parameters and
//! a sealed known constant (the verifier) used to tell a wrong passphrase or key file apart from a
//! tampered entry.
//!
//! Presignatures are single-use: [`Keystore::take`] renames the entry before decrypting it and
//! records its id in a durable ledger (`dir/presig/consumed.log`), so a used presignature cannot be
//! read again, even after a crash or after restoring its file from a backup.

use std::collections::HashSet;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{EngineError, ErrorCode, Result};

/// File magic of a sealed entry.
const MAGIC: &[u8; 4] = b"TWKS";
/// Format version of sealed entries and of `keystore.json`.
const FORMAT_VERSION: u8 = 1;
/// Header length: magic, version, kind code, nonce.
const HEADER_LEN: usize = 4 + 1 + 1 + NONCE_LEN;
/// XChaCha20-Poly1305 nonce length.
const NONCE_LEN: usize = 24;
/// Poly1305 tag length.
const TAG_LEN: usize = 16;
/// Salt length for Argon2id.
const SALT_LEN: usize = 16;
/// Name of the (non-secret) keystore metadata file.
const META_FILE: &str = "keystore.json";
/// Name of the consumed-presignature ledger inside the presignature directory.
const LEDGER_FILE: &str = "consumed.log";
/// Known plaintext sealed into `keystore.json` to check the key on open.
const VERIFIER_PLAINTEXT: &[u8] = b"threshold-wallet keystore verifier v1";
/// Kind code and kind label used for the verifier's associated data.
const VERIFIER_KIND_CODE: u8 = 0;
const VERIFIER_KIND: &str = "verifier";
/// Environment variable selecting cheap KDF parameters (`fast`) for tests.
const KDF_ENV: &str = "TW_KEYSTORE_KDF";
/// Upper bounds accepted for stored KDF parameters (guards against a doctored keystore.json
/// making `open` allocate or spin forever).
const MAX_M_KIB: u32 = 4 * 1024 * 1024;
const MAX_T_COST: u32 = 64;
const MAX_P_COST: u32 = 64;
/// Maximum length of an entry id.
const MAX_ID_LEN: usize = 128;

/// Where the keystore key comes from.
pub enum KeySource {
    /// A passphrase, stretched to a 32-byte key with Argon2id.
    Passphrase(Zeroizing<String>),
    /// A 32-byte key used directly (for example read from a key file).
    KeyBytes(Zeroizing<[u8; 32]>),
}

impl KeySource {
    /// Loads a key file: either exactly 32 raw bytes, or 64 hex characters optionally followed by a
    /// newline. Anything else is [`ErrorCode::BadArgument`].
    pub fn from_key_file(path: &Path) -> Result<Self> {
        let mut contents = Zeroizing::new(Vec::new());
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut contents))
            .map_err(|e| io_err(&format!("cannot read key file {}", path.display()), e))?;
        let mut key = Zeroizing::new([0u8; 32]);
        if contents.len() == 32 {
            key.copy_from_slice(&contents);
            return Ok(KeySource::KeyBytes(key));
        }
        let mut text: &[u8] = &contents;
        if let Some(rest) = text.strip_suffix(b"\n") {
            text = rest;
            if let Some(rest) = text.strip_suffix(b"\r") {
                text = rest;
            }
        }
        if text.len() == 64 && hex::decode_to_slice(text, &mut key[..]).is_ok() {
            return Ok(KeySource::KeyBytes(key));
        }
        Err(EngineError::bad_arg(format!(
            "key file {} must hold exactly 32 raw bytes or 64 hex characters",
            path.display()
        )))
    }
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Passphrase(_) => f.write_str("KeySource::Passphrase(<redacted>)"),
            KeySource::KeyBytes(_) => f.write_str("KeySource::KeyBytes(<redacted>)"),
        }
    }
}

/// The kinds of secrets the keystore holds; each lives in its own subdirectory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SecretKind {
    /// A CGGMP24 ECDSA key share.
    EcdsaKeyShare,
    /// CGGMP24 auxiliary info (Paillier keys and ring-Pedersen parameters).
    EcdsaAuxInfo,
    /// A FROST key share.
    FrostKeyShare,
    /// A single-use ECDSA presignature.
    Presignature,
    /// Pregenerated safe primes.
    Primes,
    /// The node's identity secrets (e.g. its TLS private key).
    Identity,
    /// A refreshed ECDSA key share waiting for every node to agree before it replaces the live one.
    EcdsaKeySharePending,
    /// A refreshed FROST key share waiting for every node to agree before it replaces the live one.
    FrostKeySharePending,
}

impl SecretKind {
    /// All kinds, in kind-code order.
    pub const ALL: [SecretKind; 8] = [
        SecretKind::EcdsaKeyShare,
        SecretKind::EcdsaAuxInfo,
        SecretKind::FrostKeyShare,
        SecretKind::Presignature,
        SecretKind::Primes,
        SecretKind::Identity,
        SecretKind::EcdsaKeySharePending,
        SecretKind::FrostKeySharePending,
    ];

    /// The kind's stable name, also its directory name.
    pub fn as_str(&self) -> &'static str {
        match self {
            SecretKind::EcdsaKeyShare => "ecdsa-share",
            SecretKind::EcdsaAuxInfo => "ecdsa-aux",
            SecretKind::FrostKeyShare => "frost-share",
            SecretKind::Presignature => "presig",
            SecretKind::Primes => "primes",
            SecretKind::Identity => "identity",
            SecretKind::EcdsaKeySharePending => "ecdsa-share-pending",
            SecretKind::FrostKeySharePending => "frost-share-pending",
        }
    }

    /// The one-byte code written in each sealed file's header.
    fn code(self) -> u8 {
        match self {
            SecretKind::EcdsaKeyShare => 1,
            SecretKind::EcdsaAuxInfo => 2,
            SecretKind::FrostKeyShare => 3,
            SecretKind::Presignature => 4,
            SecretKind::Primes => 5,
            SecretKind::Identity => 6,
            SecretKind::EcdsaKeySharePending => 7,
            SecretKind::FrostKeySharePending => 8,
        }
    }

    /// Human-readable label for messages.
    fn label(self) -> &'static str {
        match self {
            SecretKind::EcdsaKeyShare => "ecdsa key share",
            SecretKind::EcdsaAuxInfo => "ecdsa aux info",
            SecretKind::FrostKeyShare => "frost key share",
            SecretKind::Presignature => "presignature",
            SecretKind::Primes => "primes",
            SecretKind::Identity => "identity",
            SecretKind::EcdsaKeySharePending => "pending ecdsa key share",
            SecretKind::FrostKeySharePending => "pending frost key share",
        }
    }
}

/// Argon2id parameters used when a keystore is created from a passphrase.
///
/// They are recorded in `keystore.json`; reopening always uses the recorded parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory cost in KiB.
    pub m_kib: u32,
    /// Number of passes.
    pub t_cost: u32,
    /// Degree of parallelism.
    pub p_cost: u32,
}

impl KdfParams {
    /// Production parameters: 64 MiB, 3 passes, 1 lane.
    pub const DEFAULT: KdfParams = KdfParams {
        m_kib: 64 * 1024,
        t_cost: 3,
        p_cost: 1,
    };
    /// Cheap parameters for tests: 8 MiB, 1 pass, 1 lane.
    pub const FAST: KdfParams = KdfParams {
        m_kib: 8 * 1024,
        t_cost: 1,
        p_cost: 1,
    };

    /// [`KdfParams::FAST`] if the environment variable `TW_KEYSTORE_KDF` is `fast`, else
    /// [`KdfParams::DEFAULT`].
    pub fn from_env() -> KdfParams {
        match std::env::var(KDF_ENV) {
            Ok(v) if v.eq_ignore_ascii_case("fast") => KdfParams::FAST,
            _ => KdfParams::DEFAULT,
        }
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        KdfParams::DEFAULT
    }
}

/// KDF record in `keystore.json`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(tag = "algorithm", rename_all = "lowercase")]
enum KdfRecord {
    /// Key used as given.
    Raw,
    /// Argon2id v0x13 with these parameters.
    Argon2id {
        m_kib: u32,
        t_cost: u32,
        p_cost: u32,
    },
}

/// Contents of `keystore.json`.
#[derive(Serialize, Deserialize, Debug)]
struct Meta {
    format: u8,
    node_id: u16,
    /// Hex of the 16-byte salt.
    salt: String,
    kdf: KdfRecord,
    /// Hex of the sealed verifier (nonce || ciphertext || tag).
    verifier: String,
}

/// In-memory view of the consumed-presignature ledger, refreshed incrementally from the file.
#[derive(Default)]
struct Ledger {
    consumed: HashSet<String>,
    /// Bytes of the ledger file already parsed (always just past a newline).
    offset: u64,
}

struct Inner {
    dir: PathBuf,
    node_id: u16,
    key: Zeroizing<[u8; 32]>,
    ledger: Mutex<Ledger>,
}

/// A node's sealed secret store. Cheap to clone (shared state); `Send + Sync`.
#[derive(Clone)]
pub struct Keystore {
    inner: Arc<Inner>,
}

impl fmt::Debug for Keystore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keystore")
            .field("dir", &self.inner.dir)
            .field("node_id", &self.inner.node_id)
            .field("key", &format_args!("<redacted>"))
            .finish()
    }
}

impl Keystore {
    /// Opens (creating on first use) the keystore in `dir` for node `node_id`.
    ///
    /// A new passphrase keystore uses [`KdfParams::from_env`]. Errors: wrong passphrase or key
    /// file → [`ErrorCode::KeystoreLocked`]; keystore of another node → [`ErrorCode::BadArgument`];
    /// a damaged `keystore.json` → [`ErrorCode::KeystoreTampered`].
    pub fn open(dir: &Path, node_id: u16, source: KeySource) -> Result<Keystore> {
        Self::open_with_kdf(dir, node_id, source, KdfParams::from_env())
    }

    /// Like [`Keystore::open`], with explicit Argon2id parameters for a newly created keystore
    /// (ignored when the keystore already exists: the recorded parameters are used).
    pub fn open_with_kdf(
        dir: &Path,
        node_id: u16,
        source: KeySource,
        kdf: KdfParams,
    ) -> Result<Keystore> {
        if node_id == 0 {
            return Err(EngineError::bad_arg("node id must be in 1..=65535, got 0"));
        }
        if let KeySource::Passphrase(p) = &source {
            if p.is_empty() {
                return Err(EngineError::bad_arg(
                    "keystore passphrase must not be empty",
                ));
            }
        }
        create_private_dir(dir)?;
        let meta_path = dir.join(META_FILE);
        let key = match read_meta(&meta_path)? {
            Some(meta) => unlock(dir, &meta_path, &meta, node_id, &source)?,
            None => create_meta(dir, &meta_path, node_id, &source, kdf)?,
        };
        let ks = Keystore {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                node_id,
                key,
                ledger: Mutex::new(Ledger::default()),
            }),
        };
        ks.recover()?;
        Ok(ks)
    }

    /// The node id this keystore belongs to.
    pub fn node_id(&self) -> u16 {
        self.inner.node_id
    }

    /// The keystore directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Seals and stores `plaintext` as entry `id` of `kind`, atomically and durably.
    ///
    /// Overwrites an existing entry, except for [`SecretKind::Presignature`]: a presignature id
    /// that exists, is being taken, or was ever consumed is refused ([`ErrorCode::BadArgument`]).
    pub fn put(&self, kind: SecretKind, id: &str, plaintext: &[u8]) -> Result<()> {
        validate_id(id)?;
        let kind_dir = self.kind_dir(kind);
        create_private_dir(&kind_dir)?;
        let path = self.sealed_path(kind, id);
        let sealed = self.seal(kind, id, plaintext)?;
        if kind != SecretKind::Presignature {
            write_atomic(&kind_dir, &path, &sealed, false)?;
            return Ok(());
        }
        let mut ledger = self.ledger()?;
        self.refresh_ledger(&mut ledger)?;
        if ledger.consumed.contains(id) {
            return Err(EngineError::bad_arg(format!(
                "presignature '{id}' was already used; presignature ids are single-use"
            )));
        }
        let exists = EngineError::bad_arg(format!("presignature '{id}' already exists"));
        if self.taking_path(kind, id).exists() {
            return Err(exists);
        }
        if !write_atomic(&kind_dir, &path, &sealed, true)? {
            return Err(exists);
        }
        Ok(())
    }

    /// Reads and decrypts entry `id` of `kind`.
    ///
    /// Missing → [`ErrorCode::NotFound`]; a consumed presignature → [`ErrorCode::PresignatureUsed`]
    /// (a copy restored from a backup is deleted); failed authentication →
    /// [`ErrorCode::KeystoreTampered`].
    pub fn get(&self, kind: SecretKind, id: &str) -> Result<Zeroizing<Vec<u8>>> {
        validate_id(id)?;
        let path = self.sealed_path(kind, id);
        if kind == SecretKind::Presignature {
            let mut ledger = self.ledger()?;
            self.refresh_ledger(&mut ledger)?;
            if ledger.consumed.contains(id) {
                remove_if_exists(&path)?;
                return Err(used(id));
            }
            // Read under the ledger lock so a concurrent `take` in this process cannot interleave.
            let data = match read_entry(&path)? {
                Some(d) => d,
                None if self.taking_path(kind, id).exists() => return Err(used(id)),
                None => return Err(not_found(kind, id)),
            };
            drop(ledger);
            return self.open_sealed(kind, id, &path, &data);
        }
        match read_entry(&path)? {
            Some(data) => self.open_sealed(kind, id, &path, &data),
            None => Err(not_found(kind, id)),
        }
    }

    /// Whether entry `id` of `kind` exists (and, for presignatures, was not consumed).
    /// Invalid ids are reported as absent.
    pub fn contains(&self, kind: SecretKind, id: &str) -> bool {
        if validate_id(id).is_err() {
            return false;
        }
        if !self.sealed_path(kind, id).is_file() {
            return false;
        }
        if kind != SecretKind::Presignature {
            return true;
        }
        match self.ledger() {
            Ok(mut ledger) => {
                self.refresh_ledger(&mut ledger).is_ok() && !ledger.consumed.contains(id)
            }
            Err(_) => false,
        }
    }

    /// The ids of all entries of `kind`, sorted (consumed presignatures excluded).
    pub fn list(&self, kind: SecretKind) -> Result<Vec<String>> {
        let kind_dir = self.kind_dir(kind);
        let entries = match fs::read_dir(&kind_dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(io_err(
                    &format!("cannot list keystore directory {}", kind_dir.display()),
                    e,
                ))
            }
        };
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| {
                io_err(
                    &format!("cannot list keystore directory {}", kind_dir.display()),
                    e,
                )
            })?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(id) = name.strip_suffix(".sealed") {
                if validate_id(id).is_ok() {
                    ids.push(id.to_string());
                }
            }
        }
        if kind == SecretKind::Presignature {
            let mut ledger = self.ledger()?;
            self.refresh_ledger(&mut ledger)?;
            ids.retain(|id| !ledger.consumed.contains(id));
        }
        ids.sort();
        Ok(ids)
    }

    /// Deletes entry `id` of `kind`; `Ok(false)` if it did not exist.
    pub fn delete(&self, kind: SecretKind, id: &str) -> Result<bool> {
        validate_id(id)?;
        let path = self.sealed_path(kind, id);
        let removed = remove_if_exists(&path)?;
        if removed {
            sync_dir(&self.kind_dir(kind))?;
        }
        Ok(removed)
    }

    /// Single-use read: removes entry `id` of `kind` and returns its plaintext.
    ///
    /// The entry is renamed away before it is decrypted (and, for presignatures, its id is
    /// appended durably to the consumed ledger first), so no entry can be read twice, even by
    /// concurrent callers or across a crash. Taking a consumed presignature →
    /// [`ErrorCode::PresignatureUsed`].
    pub fn take(&self, kind: SecretKind, id: &str) -> Result<Zeroizing<Vec<u8>>> {
        validate_id(id)?;
        let kind_dir = self.kind_dir(kind);
        let path = self.sealed_path(kind, id);
        let taking = self.taking_path(kind, id);
        if kind == SecretKind::Presignature {
            let mut ledger = self.ledger()?;
            self.refresh_ledger(&mut ledger)?;
            if ledger.consumed.contains(id) {
                remove_if_exists(&path)?;
                return Err(used(id));
            }
            if !rename_if_exists(&path, &taking)? {
                if taking.exists() {
                    return Err(used(id));
                }
                return Err(not_found(kind, id));
            }
            if let Err(e) = self.append_ledger(&mut ledger, id) {
                // The id is not durably recorded: put the entry back rather than hand it out.
                let _ = fs::rename(&taking, &path);
                return Err(e);
            }
        } else if !rename_if_exists(&path, &taking)? {
            return Err(not_found(kind, id));
        }
        sync_dir(&kind_dir)?;
        let data = fs::read(&taking).map_err(|e| {
            io_err(
                &format!("cannot read keystore file {}", taking.display()),
                e,
            )
        })?;
        let opened = self.open_sealed(kind, id, &taking, &data);
        fs::remove_file(&taking).map_err(|e| {
            io_err(
                &format!("cannot remove keystore file {}", taking.display()),
                e,
            )
        })?;
        sync_dir(&kind_dir)?;
        opened
    }

    // ----- internals -----

    fn kind_dir(&self, kind: SecretKind) -> PathBuf {
        self.inner.dir.join(kind.as_str())
    }

    fn sealed_path(&self, kind: SecretKind, id: &str) -> PathBuf {
        self.kind_dir(kind).join(format!("{id}.sealed"))
    }

    fn taking_path(&self, kind: SecretKind, id: &str) -> PathBuf {
        self.kind_dir(kind).join(format!("{id}.taking"))
    }

    fn ledger_path(&self) -> PathBuf {
        self.kind_dir(SecretKind::Presignature).join(LEDGER_FILE)
    }

    fn ledger(&self) -> Result<MutexGuard<'_, Ledger>> {
        self.inner
            .ledger
            .lock()
            .map_err(|_| EngineError::internal("keystore ledger lock poisoned"))
    }

    fn seal(&self, kind: SecretKind, id: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let aad = associated_data(self.inner.node_id, kind.as_str(), id);
        let ct = seal_raw(&self.inner.key, &nonce, &aad, plaintext)?;
        let mut out = Vec::with_capacity(HEADER_LEN + ct.len());
        out.extend_from_slice(MAGIC);
        out.push(FORMAT_VERSION);
        out.push(kind.code());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    fn open_sealed(
        &self,
        kind: SecretKind,
        id: &str,
        path: &Path,
        data: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        if data.len() < HEADER_LEN + TAG_LEN || &data[..4] != MAGIC {
            return Err(EngineError::new(
                ErrorCode::KeystoreTampered,
                format!(
                    "keystore file {} is truncated or not a sealed keystore file",
                    path.display()
                ),
            ));
        }
        if data[4] != FORMAT_VERSION {
            return Err(EngineError::new(
                ErrorCode::KeystoreTampered,
                format!(
                    "keystore file {} has unsupported format version {}",
                    path.display(),
                    data[4]
                ),
            ));
        }
        let tampered = || {
            EngineError::new(
                ErrorCode::KeystoreTampered,
                format!(
                    "keystore file {} failed authentication: modified, or moved from another key/node",
                    path.display()
                ),
            )
        };
        if data[5] != kind.code() {
            return Err(tampered());
        }
        let aad = associated_data(self.inner.node_id, kind.as_str(), id);
        open_raw(
            &self.inner.key,
            &data[6..HEADER_LEN],
            &aad,
            &data[HEADER_LEN..],
        )
        .ok_or_else(tampered)
    }

    /// Parses ledger lines appended since the last refresh. Only newline-terminated lines count.
    fn refresh_ledger(&self, ledger: &mut Ledger) -> Result<()> {
        let path = self.ledger_path();
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                ledger.consumed.clear();
                ledger.offset = 0;
                return Ok(());
            }
            Err(e) => return Err(io_err(&format!("cannot read ledger {}", path.display()), e)),
        };
        let ctx = || format!("cannot read ledger {}", path.display());
        let len = file.metadata().map_err(|e| io_err(&ctx(), e))?.len();
        if len < ledger.offset {
            // Replaced or truncated behind our back: re-read it all.
            ledger.consumed.clear();
            ledger.offset = 0;
        }
        if len == ledger.offset {
            return Ok(());
        }
        file.seek(SeekFrom::Start(ledger.offset))
            .map_err(|e| io_err(&ctx(), e))?;
        let mut buf = Vec::new();
        file.read_to_end(&mut buf).map_err(|e| io_err(&ctx(), e))?;
        let complete = match buf.iter().rposition(|&b| b == b'\n') {
            Some(i) => i + 1,
            None => return Ok(()),
        };
        for line in buf[..complete].split(|&b| b == b'\n') {
            if let Ok(id) = std::str::from_utf8(line) {
                let id = id.trim_end_matches('\r');
                if !id.is_empty() {
                    ledger.consumed.insert(id.to_string());
                }
            }
        }
        ledger.offset += complete as u64;
        Ok(())
    }

    /// Appends `id` to the consumed ledger and fsyncs it.
    fn append_ledger(&self, ledger: &mut Ledger, id: &str) -> Result<()> {
        let path = self.ledger_path();
        let ctx = || format!("cannot append to ledger {}", path.display());
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create(true);
        set_private_file_mode(&mut opts);
        let mut file = opts.open(&path).map_err(|e| io_err(&ctx(), e))?;
        self.refresh_ledger(ledger)?;
        // Drop a torn trailing line (a crash mid-append): it was never acknowledged.
        let len = file.metadata().map_err(|e| io_err(&ctx(), e))?.len();
        if len > ledger.offset {
            file.set_len(ledger.offset).map_err(|e| io_err(&ctx(), e))?;
        }
        file.seek(SeekFrom::Start(ledger.offset))
            .map_err(|e| io_err(&ctx(), e))?;
        let line = format!("{id}\n");
        file.write_all(line.as_bytes())
            .map_err(|e| io_err(&ctx(), e))?;
        file.sync_all().map_err(|e| io_err(&ctx(), e))?;
        if len == 0 {
            sync_dir(&self.kind_dir(SecretKind::Presignature))?;
        }
        ledger.offset += line.len() as u64;
        ledger.consumed.insert(id.to_string());
        Ok(())
    }

    /// Crash recovery on open: entries left mid-`take` are treated as consumed; stale temp files
    /// are removed.
    fn recover(&self) -> Result<()> {
        for kind in SecretKind::ALL {
            let kind_dir = self.kind_dir(kind);
            let entries = match fs::read_dir(&kind_dir) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(io_err(
                        &format!("cannot list keystore directory {}", kind_dir.display()),
                        e,
                    ))
                }
            };
            let mut changed = false;
            for entry in entries {
                let entry = entry.map_err(|e| {
                    io_err(
                        &format!("cannot list keystore directory {}", kind_dir.display()),
                        e,
                    )
                })?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                if name.starts_with('.') && name.ends_with(".tmp") {
                    remove_if_exists(&entry.path())?;
                    changed = true;
                } else if let Some(id) = name.strip_suffix(".taking") {
                    if validate_id(id).is_err() {
                        continue;
                    }
                    if kind == SecretKind::Presignature {
                        let mut ledger = self.ledger()?;
                        self.refresh_ledger(&mut ledger)?;
                        if !ledger.consumed.contains(id) {
                            self.append_ledger(&mut ledger, id)?;
                        }
                    }
                    remove_if_exists(&entry.path())?;
                    changed = true;
                }
            }
            if changed {
                sync_dir(&kind_dir)?;
            }
        }
        Ok(())
    }
}

// ----- keystore.json -----

fn read_meta(path: &Path) -> Result<Option<Meta>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&format!("cannot read {}", path.display()), e)),
    };
    let meta: Meta = serde_json::from_slice(&bytes).map_err(|e| {
        EngineError::new(
            ErrorCode::KeystoreTampered,
            format!("keystore metadata {} is not valid: {e}", path.display()),
        )
    })?;
    if meta.format != FORMAT_VERSION {
        return Err(EngineError::bad_arg(format!(
            "keystore metadata {} has unsupported format version {}",
            path.display(),
            meta.format
        )));
    }
    Ok(Some(meta))
}

fn derive_key(
    source: &KeySource,
    kdf: &KdfRecord,
    salt: &[u8],
    meta_path: &Path,
    dir: &Path,
) -> Result<Zeroizing<[u8; 32]>> {
    match (source, kdf) {
        (KeySource::KeyBytes(k), KdfRecord::Raw) => Ok(Zeroizing::new(**k)),
        (
            KeySource::Passphrase(p),
            KdfRecord::Argon2id {
                m_kib,
                t_cost,
                p_cost,
            },
        ) => {
            if *m_kib > MAX_M_KIB || *t_cost > MAX_T_COST || *p_cost > MAX_P_COST {
                return Err(EngineError::new(
                    ErrorCode::KeystoreTampered,
                    format!(
                        "keystore metadata {} has out-of-range kdf parameters",
                        meta_path.display()
                    ),
                ));
            }
            let params = Params::new(*m_kib, *t_cost, *p_cost, Some(32)).map_err(|e| {
                EngineError::new(
                    ErrorCode::KeystoreTampered,
                    format!(
                        "keystore metadata {} has invalid kdf parameters: {e}",
                        meta_path.display()
                    ),
                )
            })?;
            let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
            let mut key = Zeroizing::new([0u8; 32]);
            argon
                .hash_password_into(p.as_bytes(), salt, &mut key[..])
                .map_err(|e| EngineError::internal(format!("argon2id failed: {e}")))?;
            Ok(key)
        }
        (KeySource::KeyBytes(_), KdfRecord::Argon2id { .. }) => Err(EngineError::new(
            ErrorCode::KeystoreLocked,
            format!(
                "keystore {} is opened with a passphrase, not a key file",
                dir.display()
            ),
        )),
        (KeySource::Passphrase(_), KdfRecord::Raw) => Err(EngineError::new(
            ErrorCode::KeystoreLocked,
            format!(
                "keystore {} is opened with a key file, not a passphrase",
                dir.display()
            ),
        )),
    }
}

fn unlock(
    dir: &Path,
    meta_path: &Path,
    meta: &Meta,
    node_id: u16,
    source: &KeySource,
) -> Result<Zeroizing<[u8; 32]>> {
    if meta.node_id != node_id {
        return Err(EngineError::bad_arg(format!(
            "keystore {} belongs to node {}, not node {node_id}",
            dir.display(),
            meta.node_id
        )));
    }
    let corrupt = |what: &str| {
        EngineError::new(
            ErrorCode::KeystoreTampered,
            format!(
                "keystore metadata {} has an invalid {what}",
                meta_path.display()
            ),
        )
    };
    let salt = hex::decode(&meta.salt).map_err(|_| corrupt("salt"))?;
    if salt.len() != SALT_LEN {
        return Err(corrupt("salt"));
    }
    let verifier = hex::decode(&meta.verifier).map_err(|_| corrupt("verifier"))?;
    if verifier.len() < NONCE_LEN + TAG_LEN {
        return Err(corrupt("verifier"));
    }
    let key = derive_key(source, &meta.kdf, &salt, meta_path, dir)?;
    let aad = associated_data(node_id, VERIFIER_KIND, META_FILE);
    let aad = verifier_aad(aad);
    match open_raw(&key, &verifier[..NONCE_LEN], &aad, &verifier[NONCE_LEN..]) {
        Some(pt) if pt.as_slice() == VERIFIER_PLAINTEXT => Ok(key),
        _ => Err(EngineError::new(
            ErrorCode::KeystoreLocked,
            format!(
                "wrong passphrase or key file for keystore {}",
                dir.display()
            ),
        )),
    }
}

fn create_meta(
    dir: &Path,
    meta_path: &Path,
    node_id: u16,
    source: &KeySource,
    kdf: KdfParams,
) -> Result<Zeroizing<[u8; 32]>> {
    let mut salt = [0u8; SALT_LEN];
    OsRng.fill_bytes(&mut salt);
    let record = match source {
        KeySource::Passphrase(_) => KdfRecord::Argon2id {
            m_kib: kdf.m_kib,
            t_cost: kdf.t_cost,
            p_cost: kdf.p_cost,
        },
        KeySource::KeyBytes(_) => KdfRecord::Raw,
    };
    if let KdfRecord::Argon2id {
        m_kib,
        t_cost,
        p_cost,
    } = record
    {
        if m_kib > MAX_M_KIB || t_cost > MAX_T_COST || p_cost > MAX_P_COST {
            return Err(EngineError::bad_arg(
                "keystore kdf parameters are out of range",
            ));
        }
        Params::new(m_kib, t_cost, p_cost, Some(32))
            .map_err(|e| EngineError::bad_arg(format!("invalid keystore kdf parameters: {e}")))?;
    }
    let key = derive_key(source, &record, &salt, meta_path, dir)?;
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    let aad = verifier_aad(associated_data(node_id, VERIFIER_KIND, META_FILE));
    let ct = seal_raw(&key, &nonce, &aad, VERIFIER_PLAINTEXT)?;
    let mut verifier = nonce.to_vec();
    verifier.extend_from_slice(&ct);
    let meta = Meta {
        format: FORMAT_VERSION,
        node_id,
        salt: hex::encode(salt),
        kdf: record,
        verifier: hex::encode(verifier),
    };
    let mut json = serde_json::to_vec_pretty(&meta)
        .map_err(|e| EngineError::internal(format!("cannot encode keystore metadata: {e}")))?;
    json.push(b'\n');
    if write_atomic(dir, meta_path, &json, true)? {
        return Ok(key);
    }
    // Someone created the keystore concurrently: open theirs.
    match read_meta(meta_path)? {
        Some(meta) => unlock(dir, meta_path, &meta, node_id, source),
        None => Err(EngineError::internal(format!(
            "keystore metadata {} vanished while creating it",
            meta_path.display()
        ))),
    }
}

// ----- crypto helpers -----

/// Associated data: magic, format version, node id (BE), then length-prefixed kind and id.
fn associated_data(node_id: u16, kind: &str, id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(4 + 1 + 2 + 2 + kind.len() + 2 + id.len());
    aad.extend_from_slice(MAGIC);
    aad.push(FORMAT_VERSION);
    aad.extend_from_slice(&node_id.to_be_bytes());
    for part in [kind, id] {
        // Both are short (kinds are constants, ids are at most 128 bytes).
        aad.extend_from_slice(&(part.len() as u16).to_be_bytes());
        aad.extend_from_slice(part.as_bytes());
    }
    aad
}

fn verifier_aad(mut aad: Vec<u8>) -> Vec<u8> {
    aad.push(VERIFIER_KIND_CODE);
    aad
}

fn seal_raw(key: &[u8; 32], nonce: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    let cipher = XChaCha20Poly1305::new(key.into());
    cipher
        .encrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| EngineError::internal("xchacha20-poly1305 encryption failed"))
}

fn open_raw(key: &[u8; 32], nonce: &[u8], aad: &[u8], ct: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if nonce.len() != NONCE_LEN {
        return None;
    }
    let cipher = XChaCha20Poly1305::new(key.into());
    cipher
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
        .ok()
        .map(Zeroizing::new)
}

// ----- filesystem helpers -----

fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(EngineError::bad_arg(format!(
            "invalid keystore id {:?}: use 1-{MAX_ID_LEN} characters from [A-Za-z0-9._-], not starting with '.'",
            truncate_for_message(id)
        )))
    }
}

fn truncate_for_message(s: &str) -> String {
    s.chars().take(140).collect()
}

fn not_found(kind: SecretKind, id: &str) -> EngineError {
    EngineError::new(
        ErrorCode::NotFound,
        format!("no {} '{id}' in keystore", kind.label()),
    )
}

fn used(id: &str) -> EngineError {
    EngineError::new(
        ErrorCode::PresignatureUsed,
        format!("presignature '{id}' was already used"),
    )
}

fn io_err(context: &str, e: io::Error) -> EngineError {
    EngineError::new(ErrorCode::Io, format!("{context}: {e}"))
}

#[cfg(unix)]
fn set_private_file_mode(opts: &mut OpenOptions) {
    use std::os::unix::fs::OpenOptionsExt;
    opts.mode(0o600);
}

#[cfg(not(unix))]
fn set_private_file_mode(_opts: &mut OpenOptions) {}

/// Creates `dir` (and parents) with mode 0700 if missing.
fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| {
        io_err(
            &format!("cannot create keystore directory {}", dir.display()),
            e,
        )
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| io_err(&format!("cannot set permissions of {}", dir.display()), e))?;
    }
    if let Some(parent) = dir.parent() {
        if !parent.as_os_str().is_empty() {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_err(&format!("cannot sync directory {}", dir.display()), e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Writes `bytes` to `path` atomically (temp file in `dir`, fsync, rename or link, fsync `dir`),
/// mode 0600. With `no_clobber`, returns `Ok(false)` without writing if `path` already exists.
fn write_atomic(dir: &Path, path: &Path, bytes: &[u8], no_clobber: bool) -> Result<bool> {
    let mut suffix = [0u8; 8];
    OsRng.fill_bytes(&mut suffix);
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("entry");
    let tmp = dir.join(format!(".{file_name}.{}.tmp", hex::encode(suffix)));
    let ctx = || format!("cannot write keystore file {}", path.display());
    let result = (|| -> io::Result<bool> {
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        set_private_file_mode(&mut opts);
        let mut file = opts.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        if no_clobber {
            // A hard link never replaces an existing file: atomic create-if-absent.
            match fs::hard_link(&tmp, path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    fs::remove_file(&tmp)?;
                    return Ok(false);
                }
                Err(e) => return Err(e),
            }
            fs::remove_file(&tmp)?;
        } else {
            fs::rename(&tmp, path)?;
        }
        Ok(true)
    })();
    match result {
        Ok(written) => {
            if written {
                sync_dir(dir)?;
            }
            Ok(written)
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(io_err(&ctx(), e))
        }
    }
}

/// Reads a file; `Ok(None)` if it does not exist.
fn read_entry(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(d) => Ok(Some(d)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(
            &format!("cannot read keystore file {}", path.display()),
            e,
        )),
    }
}

/// Removes a file; `Ok(false)` if it did not exist.
fn remove_if_exists(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err(
            &format!("cannot remove keystore file {}", path.display()),
            e,
        )),
    }
}

/// Renames `from` to `to`; `Ok(false)` if `from` does not exist.
fn rename_if_exists(from: &Path, to: &Path) -> Result<bool> {
    match fs::rename(from, to) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err(
            &format!("cannot rename keystore file {}", from.display()),
            e,
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    use crate::test_util::TempDir;

    fn pass(s: &str) -> KeySource {
        KeySource::Passphrase(Zeroizing::new(s.to_string()))
    }

    fn open(dir: &Path, node: u16, p: &str) -> Result<Keystore> {
        Keystore::open_with_kdf(dir, node, pass(p), KdfParams::FAST)
    }

    #[test]
    fn keystore_is_send_sync_clone() {
        fn check<T: Send + Sync + Clone>() {}
        check::<Keystore>();
    }

    #[test]
    fn round_trip_put_get_list_delete() {
        let t = TempDir::new("keystore");
        let dir = t.path().join("ks");
        let ks = open(&dir, 1, "correct horse").unwrap();
        assert_eq!(ks.node_id(), 1);
        ks.put(SecretKind::EcdsaKeyShare, "wallet-1", b"share bytes")
            .unwrap();
        ks.put(SecretKind::EcdsaKeyShare, "wallet-0", b"other")
            .unwrap();
        assert_eq!(
            &ks.get(SecretKind::EcdsaKeyShare, "wallet-1").unwrap()[..],
            b"share bytes"
        );
        assert!(ks.contains(SecretKind::EcdsaKeyShare, "wallet-1"));
        assert!(!ks.contains(SecretKind::FrostKeyShare, "wallet-1"));
        assert_eq!(
            ks.list(SecretKind::EcdsaKeyShare).unwrap(),
            vec!["wallet-0", "wallet-1"]
        );
        assert!(ks.list(SecretKind::Primes).unwrap().is_empty());
        // Overwrite is allowed for non-presignature kinds.
        ks.put(SecretKind::EcdsaKeyShare, "wallet-1", b"v2")
            .unwrap();
        assert_eq!(
            &ks.get(SecretKind::EcdsaKeyShare, "wallet-1").unwrap()[..],
            b"v2"
        );
        // Empty plaintext works.
        ks.put(SecretKind::Identity, "empty", b"").unwrap();
        assert!(ks.get(SecretKind::Identity, "empty").unwrap().is_empty());
        assert!(ks.delete(SecretKind::EcdsaKeyShare, "wallet-1").unwrap());
        assert!(!ks.delete(SecretKind::EcdsaKeyShare, "wallet-1").unwrap());
        let e = ks.get(SecretKind::EcdsaKeyShare, "wallet-1").unwrap_err();
        assert_eq!(e.code, ErrorCode::NotFound);
        assert_eq!(e.message, "no ecdsa key share 'wallet-1' in keystore");
        // No stray temp files.
        let names: Vec<_> = fs::read_dir(dir.join("ecdsa-share"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["wallet-0.sealed"]);
        // Debug never shows the key.
        let dbg = format!("{ks:?} {:?}", pass("secret-pass"));
        assert!(
            dbg.contains("<redacted>") && !dbg.contains("secret-pass"),
            "{dbg}"
        );
    }

    #[test]
    fn reopen_and_wrong_passphrase() {
        let t = TempDir::new("keystore");
        let dir = t.path().join("ks");
        {
            let ks = open(&dir, 2, "pw-one").unwrap();
            ks.put(SecretKind::FrostKeyShare, "k", b"frost").unwrap();
        }
        let meta: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.join(META_FILE)).unwrap()).unwrap();
        assert_eq!(meta["node_id"], 2);
        assert_eq!(meta["kdf"]["algorithm"], "argon2id");
        assert_eq!(meta["kdf"]["m_kib"], 8192);
        assert_eq!(meta["salt"].as_str().unwrap().len(), 32);
        // Reopen with default params requested: the stored (fast) params are used.
        let ks = Keystore::open_with_kdf(&dir, 2, pass("pw-one"), KdfParams::DEFAULT).unwrap();
        assert_eq!(
            &ks.get(SecretKind::FrostKeyShare, "k").unwrap()[..],
            b"frost"
        );
        let e = open(&dir, 2, "pw-two").unwrap_err();
        assert_eq!(e.code, ErrorCode::KeystoreLocked);
        assert!(
            e.message
                .starts_with("wrong passphrase or key file for keystore"),
            "{}",
            e.message
        );
        let e = open(&dir, 3, "pw-one").unwrap_err();
        assert_eq!(e.code, ErrorCode::BadArgument);
        let e =
            Keystore::open(&dir, 2, KeySource::KeyBytes(Zeroizing::new([7u8; 32]))).unwrap_err();
        assert_eq!(e.code, ErrorCode::KeystoreLocked);
        let e = open(&dir, 0, "pw-one").unwrap_err();
        assert_eq!(e.code, ErrorCode::BadArgument);
    }

    #[test]
    fn raw_key_wrong_key_locked() {
        let t = TempDir::new("keystore");
        let dir = t.path().join("ks");
        let ks = Keystore::open(&dir, 1, KeySource::KeyBytes(Zeroizing::new([1u8; 32]))).unwrap();
        ks.put(SecretKind::Primes, "p0", b"primes").unwrap();
        drop(ks);
        let ks = Keystore::open(&dir, 1, KeySource::KeyBytes(Zeroizing::new([1u8; 32]))).unwrap();
        assert_eq!(&ks.get(SecretKind::Primes, "p0").unwrap()[..], b"primes");
        let e =
            Keystore::open(&dir, 1, KeySource::KeyBytes(Zeroizing::new([2u8; 32]))).unwrap_err();
        assert_eq!(e.code, ErrorCode::KeystoreLocked);
        let e = open(&dir, 1, "pw").unwrap_err();
        assert_eq!(e.code, ErrorCode::KeystoreLocked);
    }

    #[test]
    fn flipped_byte_is_tampered() {
        let t = TempDir::new("keystore");
        let ks = open(t.path(), 1, "pw").unwrap();
        ks.put(SecretKind::EcdsaAuxInfo, "aux", b"aux info")
            .unwrap();
        let path = t.path().join("ecdsa-aux/aux.sealed");
        let original = fs::read(&path).unwrap();
        for i in [0, 4, 5, 6, HEADER_LEN, original.len() - 1] {
            let mut data = original.clone();
            data[i] ^= 0x01;
            fs::write(&path, &data).unwrap();
            let e = ks.get(SecretKind::EcdsaAuxInfo, "aux").unwrap_err();
            assert_eq!(e.code, ErrorCode::KeystoreTampered, "byte {i}");
            assert!(
                e.message.contains(&path.display().to_string()),
                "{}",
                e.message
            );
        }
        fs::write(&path, &original[..10]).unwrap();
        assert_eq!(
            ks.get(SecretKind::EcdsaAuxInfo, "aux").unwrap_err().code,
            ErrorCode::KeystoreTampered
        );
        fs::write(&path, &original).unwrap();
        assert_eq!(
            &ks.get(SecretKind::EcdsaAuxInfo, "aux").unwrap()[..],
            b"aux info"
        );
    }

    #[test]
    fn copied_to_other_id_or_kind_is_tampered() {
        let t = TempDir::new("keystore");
        let ks = open(t.path(), 1, "pw").unwrap();
        ks.put(SecretKind::EcdsaKeyShare, "a", b"share a").unwrap();
        fs::copy(
            t.path().join("ecdsa-share/a.sealed"),
            t.path().join("ecdsa-share/b.sealed"),
        )
        .unwrap();
        let e = ks.get(SecretKind::EcdsaKeyShare, "b").unwrap_err();
        assert_eq!(e.code, ErrorCode::KeystoreTampered);
        assert!(e
            .message
            .contains("failed authentication: modified, or moved from another key/node"));
        // Another kind (even after fixing the header's kind code) fails too.
        fs::create_dir_all(t.path().join("frost-share")).unwrap();
        let mut data = fs::read(t.path().join("ecdsa-share/a.sealed")).unwrap();
        data[5] = SecretKind::FrostKeyShare.code();
        fs::write(t.path().join("frost-share/a.sealed"), &data).unwrap();
        let e = ks.get(SecretKind::FrostKeyShare, "a").unwrap_err();
        assert_eq!(e.code, ErrorCode::KeystoreTampered);
    }

    #[test]
    fn copied_from_other_node_is_tampered() {
        let t = TempDir::new("keystore");
        // Raw key shared by both nodes, so only the node binding differs.
        let key = [9u8; 32];
        let ks1 = Keystore::open(
            &t.path().join("n1"),
            1,
            KeySource::KeyBytes(Zeroizing::new(key)),
        )
        .unwrap();
        let ks2 = Keystore::open(
            &t.path().join("n2"),
            2,
            KeySource::KeyBytes(Zeroizing::new(key)),
        )
        .unwrap();
        ks1.put(SecretKind::EcdsaKeyShare, "w", b"node 1 share")
            .unwrap();
        ks2.put(SecretKind::EcdsaKeyShare, "w", b"node 2 share")
            .unwrap();
        fs::copy(
            t.path().join("n1/ecdsa-share/w.sealed"),
            t.path().join("n2/ecdsa-share/w.sealed"),
        )
        .unwrap();
        let e = ks2.get(SecretKind::EcdsaKeyShare, "w").unwrap_err();
        assert_eq!(e.code, ErrorCode::KeystoreTampered);
        // Same with passphrase keystores sharing a passphrase.
        let p1 = open(&t.path().join("p1"), 1, "same").unwrap();
        let p2 = open(&t.path().join("p2"), 2, "same").unwrap();
        p1.put(SecretKind::Identity, "tls", b"k1").unwrap();
        fs::create_dir_all(t.path().join("p2/identity")).unwrap();
        fs::copy(
            t.path().join("p1/identity/tls.sealed"),
            t.path().join("p2/identity/tls.sealed"),
        )
        .unwrap();
        assert_eq!(
            p2.get(SecretKind::Identity, "tls").unwrap_err().code,
            ErrorCode::KeystoreTampered
        );
    }

    #[test]
    fn presignature_take_is_single_use() {
        let t = TempDir::new("keystore");
        let ks = open(t.path(), 1, "pw").unwrap();
        ks.put(SecretKind::Presignature, "ps-1", b"presig").unwrap();
        let dup = ks
            .put(SecretKind::Presignature, "ps-1", b"again")
            .unwrap_err();
        assert_eq!(dup.code, ErrorCode::BadArgument);
        let backup = fs::read(t.path().join("presig/ps-1.sealed")).unwrap();
        assert_eq!(
            &ks.get(SecretKind::Presignature, "ps-1").unwrap()[..],
            b"presig"
        );
        assert_eq!(
            &ks.take(SecretKind::Presignature, "ps-1").unwrap()[..],
            b"presig"
        );
        let e = ks.take(SecretKind::Presignature, "ps-1").unwrap_err();
        assert_eq!(e.code, ErrorCode::PresignatureUsed);
        assert_eq!(e.message, "presignature 'ps-1' was already used");
        assert_eq!(
            ks.get(SecretKind::Presignature, "ps-1").unwrap_err().code,
            ErrorCode::PresignatureUsed
        );
        // Re-putting a consumed id is refused.
        let e = ks
            .put(SecretKind::Presignature, "ps-1", b"presig")
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::BadArgument);
        // A restored backup does not come back, and is deleted.
        fs::write(t.path().join("presig/ps-1.sealed"), &backup).unwrap();
        assert!(!ks.contains(SecretKind::Presignature, "ps-1"));
        assert!(ks.list(SecretKind::Presignature).unwrap().is_empty());
        assert_eq!(
            ks.take(SecretKind::Presignature, "ps-1").unwrap_err().code,
            ErrorCode::PresignatureUsed
        );
        assert!(!t.path().join("presig/ps-1.sealed").exists());
        fs::write(t.path().join("presig/ps-1.sealed"), &backup).unwrap();
        assert_eq!(
            ks.get(SecretKind::Presignature, "ps-1").unwrap_err().code,
            ErrorCode::PresignatureUsed
        );
        assert!(!t.path().join("presig/ps-1.sealed").exists());
        // The ledger survives reopening.
        drop(ks);
        let ks = open(t.path(), 1, "pw").unwrap();
        fs::write(t.path().join("presig/ps-1.sealed"), &backup).unwrap();
        assert_eq!(
            ks.take(SecretKind::Presignature, "ps-1").unwrap_err().code,
            ErrorCode::PresignatureUsed
        );
        // Unknown id is NotFound.
        assert_eq!(
            ks.take(SecretKind::Presignature, "ps-2").unwrap_err().code,
            ErrorCode::NotFound
        );
        // Non-presignature take: single use, then NotFound.
        ks.put(SecretKind::Primes, "pp", b"p").unwrap();
        assert_eq!(&ks.take(SecretKind::Primes, "pp").unwrap()[..], b"p");
        assert_eq!(
            ks.take(SecretKind::Primes, "pp").unwrap_err().code,
            ErrorCode::NotFound
        );
    }

    #[test]
    fn tampered_presignature_take_is_consumed() {
        let t = TempDir::new("keystore");
        let ks = open(t.path(), 1, "pw").unwrap();
        ks.put(SecretKind::Presignature, "x", b"presig").unwrap();
        let path = t.path().join("presig/x.sealed");
        let mut data = fs::read(&path).unwrap();
        let last = data.len() - 1;
        data[last] ^= 0xff;
        fs::write(&path, &data).unwrap();
        assert_eq!(
            ks.take(SecretKind::Presignature, "x").unwrap_err().code,
            ErrorCode::KeystoreTampered
        );
        assert!(!t.path().join("presig/x.taking").exists());
        assert_eq!(
            ks.take(SecretKind::Presignature, "x").unwrap_err().code,
            ErrorCode::PresignatureUsed
        );
    }

    #[test]
    fn concurrent_take_yields_once() {
        let t = TempDir::new("keystore");
        let ks = open(t.path(), 1, "pw").unwrap();
        for i in 0..8 {
            ks.put(SecretKind::Presignature, &format!("p{i}"), b"x")
                .unwrap();
        }
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let ks = ks.clone();
                std::thread::spawn(move || {
                    (0..8)
                        .filter(|i| ks.take(SecretKind::Presignature, &format!("p{i}")).is_ok())
                        .count()
                })
            })
            .collect();
        let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(total, 8);
        let ledger = fs::read_to_string(t.path().join("presig/consumed.log")).unwrap();
        assert_eq!(ledger.lines().count(), 8);
    }

    #[test]
    fn crash_mid_take_is_recovered_as_consumed() {
        let t = TempDir::new("keystore");
        let ks = open(t.path(), 1, "pw").unwrap();
        ks.put(SecretKind::Presignature, "c", b"presig").unwrap();
        let backup = fs::read(t.path().join("presig/c.sealed")).unwrap();
        // Simulate a crash right after the rename, before the ledger append.
        fs::rename(
            t.path().join("presig/c.sealed"),
            t.path().join("presig/c.taking"),
        )
        .unwrap();
        // And a torn ledger line.
        fs::write(t.path().join("presig/consumed.log"), b"partial").unwrap();
        drop(ks);
        let ks = open(t.path(), 1, "pw").unwrap();
        assert!(!t.path().join("presig/c.taking").exists());
        assert_eq!(
            fs::read_to_string(t.path().join("presig/consumed.log")).unwrap(),
            "c\n"
        );
        fs::write(t.path().join("presig/c.sealed"), &backup).unwrap();
        assert_eq!(
            ks.get(SecretKind::Presignature, "c").unwrap_err().code,
            ErrorCode::PresignatureUsed
        );
        // "partial" was never acknowledged, so it is usable.
        ks.put(SecretKind::Presignature, "partial", b"ok").unwrap();
        assert_eq!(
            &ks.take(SecretKind::Presignature, "partial").unwrap()[..],
            b"ok"
        );
    }

    #[cfg(unix)]
    #[test]
    fn file_modes() {
        use std::os::unix::fs::PermissionsExt;
        let t = TempDir::new("keystore");
        let dir = t.path().join("a/b");
        let ks = open(&dir, 1, "pw").unwrap();
        ks.put(SecretKind::Identity, "id", b"x").unwrap();
        ks.put(SecretKind::Presignature, "p", b"x").unwrap();
        ks.take(SecretKind::Presignature, "p").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("identity")), 0o700);
        assert_eq!(mode(&dir.join("identity/id.sealed")), 0o600);
        assert_eq!(mode(&dir.join("presig/consumed.log")), 0o600);
        assert_eq!(mode(&dir.join(META_FILE)), 0o600);
    }

    #[test]
    fn bad_ids_rejected() {
        let t = TempDir::new("keystore");
        let ks = open(t.path(), 1, "pw").unwrap();
        let long = "a".repeat(129);
        for id in [
            "",
            ".hidden",
            "..",
            "a/b",
            "a\\b",
            "sp ace",
            "ü",
            long.as_str(),
            "x\n",
        ] {
            let e = ks.put(SecretKind::Identity, id, b"x").unwrap_err();
            assert_eq!(e.code, ErrorCode::BadArgument, "{id:?}");
            assert_eq!(
                ks.get(SecretKind::Identity, id).unwrap_err().code,
                ErrorCode::BadArgument
            );
            assert!(!ks.contains(SecretKind::Identity, id));
        }
        ks.put(SecretKind::Identity, &"a".repeat(128), b"x")
            .unwrap();
        ks.put(SecretKind::Identity, "A-z_0.9", b"x").unwrap();
    }

    #[test]
    fn key_file_loading() {
        let t = TempDir::new("keystore");
        let key: [u8; 32] = core::array::from_fn(|i| i as u8 * 7);
        let raw = t.path().join("raw.key");
        fs::write(&raw, key).unwrap();
        let hexf = t.path().join("hex.key");
        fs::write(&hexf, format!("{}\n", hex::encode(key))).unwrap();
        let hexnonl = t.path().join("hex2.key");
        fs::write(&hexnonl, hex::encode_upper(key)).unwrap();
        for p in [&raw, &hexf, &hexnonl] {
            match KeySource::from_key_file(p).unwrap() {
                KeySource::KeyBytes(k) => assert_eq!(*k, key),
                KeySource::Passphrase(_) => panic!("expected key bytes"),
            }
        }
        let bad = t.path().join("bad.key");
        fs::write(&bad, b"not a key\n").unwrap();
        let e = KeySource::from_key_file(&bad).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadArgument);
        assert!(!e.message.contains("not a key"));
        fs::write(&bad, "zz".repeat(32)).unwrap();
        assert_eq!(
            KeySource::from_key_file(&bad).unwrap_err().code,
            ErrorCode::BadArgument
        );
        let e = KeySource::from_key_file(&t.path().join("missing.key")).unwrap_err();
        assert_eq!(e.code, ErrorCode::Io);
        // The two encodings open the same keystore.
        let dir = t.path().join("ks");
        Keystore::open(&dir, 4, KeySource::from_key_file(&raw).unwrap())
            .unwrap()
            .put(SecretKind::Identity, "i", b"v")
            .unwrap();
        let ks = Keystore::open(&dir, 4, KeySource::from_key_file(&hexf).unwrap()).unwrap();
        assert_eq!(&ks.get(SecretKind::Identity, "i").unwrap()[..], b"v");
    }
}
