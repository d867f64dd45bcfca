//! The barrier itself: seals and unseals the keyring, and encrypts every value on its way to
//! storage and decrypts it on the way back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::SystemTime;

use coffer_storage::{Storage, TxOp};
use ring::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
use ring::rand::SystemRandom;
use zeroize::Zeroizing;

use crate::error::Corruption;
use crate::frame;
use crate::keyring::{KeyStatus, Keyring, Term};
use crate::root_key::RootKey;
use crate::view::View;
use crate::{Error, Result};

/// Where the keyring lives, sealed under the root key. Its presence means "initialized".
pub const KEYRING_PATH: &str = "core/keyring";

/// Opaque proof of what a path held when it was read: the raw stored frame. A transaction can
/// [`BarrierOp::Expect`] it to detect a concurrent change (every write uses a fresh nonce, so any
/// rewrite changes the stamp, even of the same value).
#[derive(Clone, PartialEq, Eq)]
pub struct Stamp(Vec<u8>);

impl std::fmt::Debug for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Stamp(<{} bytes>)", self.0.len())
    }
}

/// One step of a barrier transaction.
pub enum BarrierOp {
    /// Encrypt and write `value` at `path`.
    Put {
        path: String,
        value: Zeroizing<Vec<u8>>,
    },
    /// Remove `path` (absent is fine).
    Delete { path: String },
    /// Require that `path` still holds what was read with `stamp`; `None`: that it is absent.
    Expect { path: String, stamp: Option<Stamp> },
    /// Require that no path starts with `prefix` (see `coffer_storage::TxOp::ExpectEmpty` for
    /// what it is ordered against on a shared store).
    ExpectEmpty { prefix: String },
}

impl std::fmt::Debug for BarrierOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BarrierOp::Put { path, value } => {
                write!(f, "Put({path:?}, <redacted {} bytes>)", value.len())
            }
            BarrierOp::Delete { path } => write!(f, "Delete({path:?})"),
            BarrierOp::Expect { path, stamp } => write!(f, "Expect({path:?}, {stamp:?})"),
            BarrierOp::ExpectEmpty { prefix } => write!(f, "ExpectEmpty({prefix:?})"),
        }
    }
}

/// The barrier over one storage. Share it as `Arc<Barrier>`; hand engines [`View`]s.
pub struct Barrier {
    storage: Storage,
    /// `None` while sealed. Clone the `Arc` out and drop the guard before any `.await`.
    state: RwLock<Option<Arc<Unsealed>>>,
    /// Serializes the writers of `core/keyring` (initialize, rotate, rekey).
    keyring_writes: tokio::sync::Mutex<()>,
    rng: SystemRandom,
}

/// What an unsealed barrier holds in memory.
struct Unsealed {
    root: RootKey,
    keyring: Keyring,
    /// The keyring frame as stored, so a rotation can compare-and-swap it.
    stored: Vec<u8>,
    /// Encryptions with the active term since it was installed (or since unseal).
    encryptions: AtomicU64,
}

impl Barrier {
    /// A sealed barrier over `storage`.
    pub fn new(storage: Storage) -> Barrier {
        Barrier {
            storage,
            state: RwLock::new(None),
            keyring_writes: tokio::sync::Mutex::new(()),
            rng: SystemRandom::new(),
        }
    }

    /// Whether a keyring exists in storage.
    pub async fn is_initialized(&self) -> Result<bool> {
        Ok(self.storage.get(KEYRING_PATH).await?.is_some())
    }

    /// Creates the keyring with term 1 and stores it sealed under `root`. The barrier stays
    /// sealed; unseal it with the same key.
    pub async fn initialize(&self, root: &RootKey) -> Result<()> {
        let _writer = self.keyring_writes.lock().await;
        if self.is_initialized().await? {
            return Err(Error::AlreadyInitialized);
        }
        let keyring = Keyring::generate(SystemTime::now(), &self.rng)?;
        let blob = seal_keyring(root, &keyring, &self.rng)?;
        let ops = vec![
            TxOp::Expect {
                key: KEYRING_PATH.to_owned(),
                value: None,
            },
            TxOp::Put {
                key: KEYRING_PATH.to_owned(),
                value: blob,
            },
        ];
        match self.storage.transaction(ops).await {
            Ok(()) => {
                tracing::info!("barrier initialized with key term 1");
                Ok(())
            }
            // Another initializer won the race.
            Err(coffer_storage::Error::Conflict { .. }) => Err(Error::AlreadyInitialized),
            Err(other) => Err(other.into()),
        }
    }

    /// Opens the keyring with `root` and keeps it in memory. [`Error::WrongKey`] when the key
    /// does not open it, [`Error::NotInitialized`] when there is none. Unsealing an unsealed
    /// barrier checks the key and changes nothing.
    pub async fn unseal(&self, root: &RootKey) -> Result<()> {
        let blob = self
            .storage
            .get(KEYRING_PATH)
            .await?
            .ok_or(Error::NotInitialized)?;
        let keyring = open_keyring(root, &blob)?;
        let unsealed = Arc::new(Unsealed {
            root: RootKey::from_bytes(root.as_bytes())?,
            keyring,
            stored: blob,
            encryptions: AtomicU64::new(0),
        });
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        if state.is_none() {
            let term = unsealed.keyring.active().term();
            *state = Some(unsealed);
            drop(state);
            tracing::info!(%term, "barrier unsealed");
        }
        Ok(())
    }

    /// Drops the keyring and root key from memory; they are zeroized once in-flight operations
    /// release them.
    pub fn seal(&self) {
        let dropped = self
            .state
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if dropped.is_some() {
            tracing::info!("barrier sealed");
        }
        drop(dropped);
    }

    /// Whether the barrier is sealed.
    pub fn is_sealed(&self) -> bool {
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }

    /// Reads the stored keyring again, keeping the root key: another node sharing the storage
    /// rotated it. A no-op while sealed or when it did not change; [`Error::WrongKey`] when it was
    /// re-sealed under a new root key (this node then keeps the keyring it has).
    pub async fn reload_keyring(&self) -> Result<()> {
        let _writer = self.keyring_writes.lock().await;
        let Ok(current) = self.unsealed() else {
            return Ok(());
        };
        let blob = self
            .storage
            .get(KEYRING_PATH)
            .await?
            .ok_or(Error::NotInitialized)?;
        if blob == current.stored {
            return Ok(());
        }
        let keyring = open_keyring(&current.root, &blob)?;
        let term = keyring.active().term();
        let next = Arc::new(Unsealed {
            root: RootKey::from_bytes(current.root.as_bytes())?,
            keyring,
            stored: blob,
            encryptions: AtomicU64::new(0),
        });
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        if state.is_some() {
            *state = Some(next);
            drop(state);
            tracing::info!(%term, "barrier keyring reloaded");
        }
        Ok(())
    }

    /// Adds term N+1 and persists the keyring; new writes use the new term, old terms still
    /// decrypt. [`Error::Conflict`] if the stored keyring changed since this barrier read it.
    pub async fn rotate(&self) -> Result<KeyStatus> {
        let _writer = self.keyring_writes.lock().await;
        let current = self.unsealed()?;
        let keyring = current.keyring.rotated(SystemTime::now(), &self.rng)?;
        let status = KeyStatus {
            term: keyring.active().term(),
            install_time: keyring.active().install_time(),
            encryptions: 0,
        };
        let next = Unsealed {
            root: RootKey::from_bytes(current.root.as_bytes())?,
            keyring,
            stored: Vec::new(),
            encryptions: AtomicU64::new(0),
        };
        self.replace_keyring(&current, next).await?;
        tracing::info!(term = %status.term, "barrier keyring rotated");
        Ok(status)
    }

    /// Re-seals the keyring under a new root key (Vault's root-key rotation, "rekey"). The data
    /// keys do not change; the old root key no longer unseals.
    pub async fn rekey(&self, new_root: &RootKey) -> Result<()> {
        let _writer = self.keyring_writes.lock().await;
        let current = self.unsealed()?;
        let next = Unsealed {
            root: RootKey::from_bytes(new_root.as_bytes())?,
            keyring: current.keyring.clone(),
            stored: Vec::new(),
            encryptions: AtomicU64::new(current.encryptions.load(Ordering::Relaxed)),
        };
        self.replace_keyring(&current, next).await?;
        tracing::info!("barrier keyring re-sealed under a new root key");
        Ok(())
    }

    /// The active term, when it was installed, and how many encryptions it has done.
    pub fn key_status(&self) -> Result<KeyStatus> {
        let state = self.unsealed()?;
        let active = state.keyring.active();
        Ok(KeyStatus {
            term: active.term(),
            install_time: active.install_time(),
            encryptions: state.encryptions.load(Ordering::Relaxed),
        })
    }

    /// The decrypted value at `path`, or `None` when absent.
    pub async fn get(&self, path: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        Ok(self.get_stamped(path).await?.map(|(value, _)| value))
    }

    /// The decrypted value at `path` with a [`Stamp`] of what was stored, or `None` when absent.
    pub async fn get_stamped(&self, path: &str) -> Result<Option<(Zeroizing<Vec<u8>>, Stamp)>> {
        let state = self.unsealed()?;
        check_data_path(path)?;
        let Some(stored) = self.storage.get(path).await? else {
            return Ok(None);
        };
        let value = decrypt(&state.keyring, path, &stored)?;
        Ok(Some((value, Stamp(stored))))
    }

    /// Encrypts `value` under the active term and writes it at `path`.
    pub async fn put(&self, path: &str, value: &[u8]) -> Result<()> {
        let state = self.unsealed()?;
        check_data_path(path)?;
        let frame = self.encrypt(&state, path, value)?;
        Ok(self.storage.put(path, &frame).await?)
    }

    /// Removes `path`; absent is fine.
    pub async fn delete(&self, path: &str) -> Result<()> {
        self.unsealed()?;
        check_data_path(path)?;
        Ok(self.storage.delete(path).await?)
    }

    /// The immediate children of `prefix` (see [`coffer_storage::Backend::list`]).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.unsealed()?;
        Ok(self.storage.list(prefix).await?)
    }

    /// Full paths under `prefix`, after `after`, at most `limit` (see
    /// [`coffer_storage::Backend::scan`]).
    pub async fn scan(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>> {
        self.unsealed()?;
        Ok(self.storage.scan(prefix, after, limit).await?)
    }

    /// The full paths under `prefix`, after `after`, at most `limit`, each with its decrypted
    /// value (see [`coffer_storage::Backend::scan_records`]).
    pub async fn scan_records(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Zeroizing<Vec<u8>>)>> {
        let state = self.unsealed()?;
        let stored = self.storage.scan_records(prefix, after, limit).await?;
        let mut records = Vec::with_capacity(stored.len());
        for (path, frame) in stored {
            // The keyring lives beside data under its own key; it is never handed out.
            if check_data_path(&path).is_err() {
                continue;
            }
            let value = decrypt(&state.keyring, &path, &frame)?;
            records.push((path, value));
        }
        Ok(records)
    }

    /// Applies `ops` atomically: all of them, or none and [`Error::Conflict`] when an `Expect`
    /// does not hold.
    pub async fn transaction(&self, ops: Vec<BarrierOp>) -> Result<()> {
        let state = self.unsealed()?;
        let mut tx = Vec::with_capacity(ops.len());
        for op in ops {
            tx.push(match op {
                BarrierOp::Put { path, value } => {
                    check_data_path(&path)?;
                    let frame = self.encrypt(&state, &path, &value)?;
                    TxOp::Put {
                        key: path,
                        value: frame,
                    }
                }
                BarrierOp::Delete { path } => {
                    check_data_path(&path)?;
                    TxOp::Delete { key: path }
                }
                BarrierOp::Expect { path, stamp } => {
                    check_data_path(&path)?;
                    TxOp::Expect {
                        key: path,
                        value: stamp.map(|s| s.0),
                    }
                }
                BarrierOp::ExpectEmpty { prefix } => TxOp::ExpectEmpty { prefix },
            });
        }
        self.storage.transaction(tx).await.map_err(|e| match e {
            coffer_storage::Error::Conflict { key } => Error::Conflict { path: key },
            other => Error::Storage(other),
        })
    }

    /// A view of everything under `prefix`. The prefix comes from code (a mount's UUID, a
    /// subsystem's folder), not from users; it is taken literally, with a `/` appended when
    /// missing so that `a` cannot reach `ab/`.
    pub fn view(self: &Arc<Self>, prefix: &str) -> View {
        View::new(Arc::clone(self), prefix)
    }

    /// [`Error::Sealed`] when sealed.
    pub(crate) fn ensure_unsealed(&self) -> Result<()> {
        self.unsealed().map(drop)
    }

    /// The in-memory keys, or [`Error::Sealed`].
    fn unsealed(&self) -> Result<Arc<Unsealed>> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        state.as_ref().map(Arc::clone).ok_or(Error::Sealed)
    }

    fn encrypt(&self, state: &Unsealed, path: &str, value: &[u8]) -> Result<Vec<u8>> {
        let key = state.keyring.active();
        let frame = frame::seal(key.aead(), key.term(), path, value, &self.rng)?;
        state.encryptions.fetch_add(1, Ordering::Relaxed);
        Ok(frame)
    }

    /// Persists `next`'s keyring under `next`'s root key in place of `current`'s (compare-and-
    /// swap), then installs `next` in memory unless the barrier was sealed meanwhile.
    async fn replace_keyring(&self, current: &Arc<Unsealed>, mut next: Unsealed) -> Result<()> {
        let blob = seal_keyring(&next.root, &next.keyring, &self.rng)?;
        let ops = vec![
            TxOp::Expect {
                key: KEYRING_PATH.to_owned(),
                value: Some(current.stored.clone()),
            },
            TxOp::Put {
                key: KEYRING_PATH.to_owned(),
                value: blob.clone(),
            },
        ];
        self.storage.transaction(ops).await.map_err(|e| match e {
            coffer_storage::Error::Conflict { key } => Error::Conflict { path: key },
            other => Error::Storage(other),
        })?;
        next.stored = blob;
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        if state.as_ref().is_some_and(|s| Arc::ptr_eq(s, current)) {
            *state = Some(Arc::new(next));
        }
        Ok(())
    }
}

impl std::fmt::Debug for Barrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Barrier")
            .field("storage", &self.storage)
            .field("sealed", &self.is_sealed())
            .finish_non_exhaustive()
    }
}

/// Refuses paths the data methods must not touch.
fn check_data_path(path: &str) -> Result<()> {
    if path == KEYRING_PATH {
        return Err(Error::InvalidPath {
            path: path.to_owned(),
            reason: "reserved for the barrier keyring",
        });
    }
    Ok(())
}

fn corrupt(path: &str) -> impl FnOnce(Corruption) -> Error + '_ {
    move |reason| Error::Corrupt {
        path: path.to_owned(),
        reason,
    }
}

/// Opens a stored frame with the keyring term it names.
fn decrypt(keyring: &Keyring, path: &str, stored: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let parsed = frame::parse(stored).map_err(corrupt(path))?;
    let key = keyring
        .get(parsed.term)
        .ok_or(Corruption::UnknownTerm(parsed.term))
        .map_err(corrupt(path))?;
    frame::open(key.aead(), &parsed, path).map_err(corrupt(path))
}

fn root_aead(root: &RootKey) -> LessSafeKey {
    let unbound = UnboundKey::new(&AES_256_GCM, root.as_bytes())
        .expect("AES-256-GCM accepts every 32-byte key");
    LessSafeKey::new(unbound)
}

/// The keyring frame: the encoded keyring sealed under the root key as term 0.
fn seal_keyring(root: &RootKey, keyring: &Keyring, rng: &SystemRandom) -> Result<Vec<u8>> {
    frame::seal(
        &root_aead(root),
        Term::ROOT,
        KEYRING_PATH,
        &keyring.encode(),
        rng,
    )
}

/// Opens the keyring frame: a failed authentication means the wrong root key.
fn open_keyring(root: &RootKey, stored: &[u8]) -> Result<Keyring> {
    let parsed = frame::parse(stored).map_err(corrupt(KEYRING_PATH))?;
    if parsed.term != Term::ROOT {
        return Err(corrupt(KEYRING_PATH)(Corruption::UnknownTerm(parsed.term)));
    }
    let plaintext =
        frame::open(&root_aead(root), &parsed, KEYRING_PATH).map_err(|_| Error::WrongKey)?;
    Keyring::decode(&plaintext).map_err(corrupt(KEYRING_PATH))
}
