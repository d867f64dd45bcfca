//! The token store: tokens are kept only as salted HMAC-SHA256 hashes behind the barrier, with
//! indexes by accessor, by parent (so revoking a parent revokes its children) and by expiry time
//! (so the reaper finds expired tokens in order without scanning every token).
//!
//! Storage layout inside the store's view (`sys/token/`):
//! `salt`, `id/<hash>`, `accessor/<hash of accessor>`, `parent/<parent hash>/<child hash>`,
//! `expiry/<expiry unix nanos, 20 digits>/<hash>`.
//!
//! Comparisons: a presented token is never compared with a stored one. It is turned into its
//! salted HMAC-SHA256 (the salt is secret, behind the barrier) and looked up by that hash, so any
//! timing of the lookup depends only on an unpredictable keyed hash, never on how many characters
//! of a real token were guessed right.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use coffer_barrier::{BarrierOp, View};
use ring::hmac;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::clock::Clock;
use crate::engine::Identity;
use crate::request::ClientToken;
use crate::ttl::Ttl;
use crate::{Error, Result};

/// Tokens' default and maximum lifetime when nothing else is configured (Vault's 768h).
pub const SYSTEM_MAX_TTL: Duration = Duration::from_secs(768 * 3600);

const CACHE_LIMIT: usize = 16_384;
const TOKEN_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A token's accessor: a public handle that can look up or revoke a token without knowing it.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Accessor(String);

impl Accessor {
    /// Wraps accessor text given by a caller.
    pub fn new(text: impl Into<String>) -> Self {
        Accessor(text.into())
    }

    /// The accessor text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Accessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The salted hash a token is stored under. Not secret, but not the token either.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct TokenHash(String);

impl TokenHash {
    fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stored token, as the core reasons about it.
#[derive(Debug, Clone)]
pub struct TokenEntry {
    hash: TokenHash,
    accessor: Accessor,
    parent: Option<TokenHash>,
    policies: Vec<String>,
    path: String,
    meta: BTreeMap<String, String>,
    display_name: String,
    num_uses: u32,
    creation_time: SystemTime,
    creation_ttl: Ttl,
    expire_time: Option<SystemTime>,
    explicit_max_ttl: Ttl,
    period: Ttl,
    renewable: bool,
    last_renewal: Option<SystemTime>,
    identity: Option<Identity>,
    entity_id: String,
}

impl TokenEntry {
    /// Who the token stands for, if anyone.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }
    /// The identity entity id ("" when none).
    pub fn entity_id(&self) -> &str {
        &self.entity_id
    }
    /// A stable, non-secret identifier of the token (its salted hash), for data private to it.
    pub fn scope(&self) -> &str {
        self.hash.as_str()
    }
    /// The accessor.
    pub fn accessor(&self) -> &Accessor {
        &self.accessor
    }
    /// Policies attached to the token.
    pub fn policies(&self) -> &[String] {
        &self.policies
    }
    /// Whether the token carries the `root` policy.
    pub fn is_root(&self) -> bool {
        self.policies.iter().any(|p| p == "root")
    }
    /// Whether the token has no parent.
    pub fn is_orphan(&self) -> bool {
        self.parent.is_none()
    }
    /// The path that created it.
    pub fn path(&self) -> &str {
        &self.path
    }
    /// Metadata.
    pub fn meta(&self) -> &BTreeMap<String, String> {
        &self.meta
    }
    /// Display name.
    pub fn display_name(&self) -> &str {
        &self.display_name
    }
    /// Remaining uses (0 = unlimited).
    pub fn num_uses(&self) -> u32 {
        self.num_uses
    }
    /// When it was created.
    pub fn creation_time(&self) -> SystemTime {
        self.creation_time
    }
    /// Its TTL when created.
    pub fn creation_ttl(&self) -> Ttl {
        self.creation_ttl
    }
    /// When it expires, if ever.
    pub fn expire_time(&self) -> Option<SystemTime> {
        self.expire_time
    }
    /// Explicit max TTL (0 = none).
    pub fn explicit_max_ttl(&self) -> Ttl {
        self.explicit_max_ttl
    }
    /// Period for periodic tokens (0 = not periodic).
    pub fn period(&self) -> Ttl {
        self.period
    }
    /// Whether it can be renewed.
    pub fn renewable(&self) -> bool {
        self.renewable
    }
    /// The last renewal, if any.
    pub fn last_renewal(&self) -> Option<SystemTime> {
        self.last_renewal
    }
    /// Remaining lifetime at `now` (zero for non-expiring tokens).
    pub fn remaining(&self, now: SystemTime) -> Duration {
        self.expire_time
            .map(|t| t.duration_since(now).unwrap_or_default())
            .unwrap_or_default()
    }
    fn is_expired(&self, now: SystemTime) -> bool {
        self.expire_time.is_some_and(|t| t <= now)
    }
}

/// What a caller asks for when creating a token; validated by the token endpoint.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// Policies, already including `default` when it applies.
    pub policies: Vec<String>,
    /// Metadata.
    pub meta: BTreeMap<String, String>,
    /// Display name (already prefixed with `token-` where Vault does).
    pub display_name: String,
    /// Uses before it is revoked (0 = unlimited).
    pub num_uses: u32,
    /// Requested TTL (0 = default).
    pub ttl: Ttl,
    /// Hard cap from creation (0 = none).
    pub explicit_max_ttl: Ttl,
    /// Periodic renewal window (0 = not periodic).
    pub period: Ttl,
    /// Whether it can be renewed.
    pub renewable: bool,
    /// The creating path, e.g. `auth/token/create`.
    pub path: String,
    /// A caller-chosen token id (root only), else random.
    pub id: Option<ClientToken>,
    /// Who the token stands for (inherited from the parent when `None`).
    pub identity: Option<Identity>,
    /// The identity entity id ("" when none).
    pub entity_id: String,
}

/// A freshly created token: the only moment its text exists outside the caller.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The token text.
    pub token: ClientToken,
    /// Its stored entry.
    pub entry: Arc<TokenEntry>,
}

#[derive(Serialize, Deserialize)]
struct TokenRecord {
    accessor: String,
    parent: Option<String>,
    policies: Vec<String>,
    path: String,
    meta: BTreeMap<String, String>,
    display_name: String,
    num_uses: u32,
    creation_nanos: u64,
    creation_ttl_secs: u64,
    expire_nanos: Option<u64>,
    explicit_max_ttl_secs: u64,
    period_secs: u64,
    renewable: bool,
    last_renewal_nanos: Option<u64>,
    #[serde(default)]
    identity_kind: Option<String>,
    #[serde(default)]
    identity_name: Option<String>,
    #[serde(default)]
    entity_id: String,
}

fn nanos(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn from_nanos(n: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_nanos(n)
}

impl TokenEntry {
    fn encode(&self) -> Zeroizing<Vec<u8>> {
        let record = TokenRecord {
            accessor: self.accessor.0.clone(),
            parent: self.parent.as_ref().map(|p| p.0.clone()),
            policies: self.policies.clone(),
            path: self.path.clone(),
            meta: self.meta.clone(),
            display_name: self.display_name.clone(),
            num_uses: self.num_uses,
            creation_nanos: nanos(self.creation_time),
            creation_ttl_secs: self.creation_ttl.as_secs(),
            expire_nanos: self.expire_time.map(nanos),
            explicit_max_ttl_secs: self.explicit_max_ttl.as_secs(),
            period_secs: self.period.as_secs(),
            renewable: self.renewable,
            last_renewal_nanos: self.last_renewal.map(nanos),
            identity_kind: self.identity.as_ref().map(|i| i.kind.clone()),
            identity_name: self.identity.as_ref().map(|i| i.name.clone()),
            entity_id: self.entity_id.clone(),
        };
        Zeroizing::new(crate::record::encode(&record))
    }

    fn decode(hash: TokenHash, bytes: &[u8], path: &str) -> Result<TokenEntry> {
        let r: TokenRecord = crate::record::decode(bytes, path)?;
        Ok(TokenEntry {
            hash,
            accessor: Accessor(r.accessor),
            parent: r.parent.map(TokenHash),
            policies: r.policies,
            path: r.path,
            meta: r.meta,
            display_name: r.display_name,
            num_uses: r.num_uses,
            creation_time: from_nanos(r.creation_nanos),
            creation_ttl: Ttl::from_secs(r.creation_ttl_secs),
            expire_time: r.expire_nanos.map(from_nanos),
            explicit_max_ttl: Ttl::from_secs(r.explicit_max_ttl_secs),
            period: Ttl::from_secs(r.period_secs),
            renewable: r.renewable,
            last_renewal: r.last_renewal_nanos.map(from_nanos),
            identity: match (r.identity_kind, r.identity_name) {
                (Some(kind), Some(name)) => Some(Identity { kind, name }),
                _ => None,
            },
            entity_id: r.entity_id,
        })
    }
}

/// Told about every revoked token before its record is deleted, so data private to the token
/// (cubbyhole) goes with it.
#[async_trait::async_trait]
pub(crate) trait RevocationHook: Send + Sync {
    /// The token with this scope (its salted hash) is being revoked.
    async fn token_revoked(&self, token_scope: &str) -> Result<()>;
}

/// The token store of one unsealed core.
pub struct TokenStore {
    view: View,
    salt: hmac::Key,
    clock: Arc<dyn Clock>,
    hook: Arc<dyn RevocationHook>,
    /// `""` in the root namespace, `.<namespace id>` elsewhere: appended to every token and
    /// accessor this store issues, so a token names the namespace whose store holds it.
    suffix: String,
    cache: Mutex<HashMap<TokenHash, Arc<TokenEntry>>>,
}

impl fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenStore").finish_non_exhaustive()
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut buf)
        .map_err(|_| Error::invalid("the system random number generator failed"))?;
    Ok(buf)
}

fn random_text(len: usize) -> Result<Zeroizing<String>> {
    // Rejection sampling keeps the alphabet uniform.
    let mut out = Zeroizing::new(String::with_capacity(len));
    while out.len() < len {
        for byte in random_bytes::<64>()? {
            let limit = 256 - (256 % TOKEN_ALPHABET.len());
            if usize::from(byte) < limit && out.len() < len {
                out.push(char::from(
                    TOKEN_ALPHABET[usize::from(byte) % TOKEN_ALPHABET.len()],
                ));
            }
        }
    }
    Ok(out)
}

fn expiry_key(expire: SystemTime, hash: &TokenHash) -> String {
    format!("expiry/{:020}/{}", nanos(expire), hash.as_str())
}

impl TokenStore {
    /// Opens the store in `view`, creating its salt on first use. `suffix` (`""` or
    /// `.<namespace id>`) ends every token and accessor it issues.
    pub(crate) async fn open(
        view: View,
        clock: Arc<dyn Clock>,
        hook: Arc<dyn RevocationHook>,
        suffix: String,
    ) -> Result<TokenStore> {
        let salt = match view.get("salt").await.map_err(Error::from_barrier)? {
            Some(bytes) if bytes.len() == 32 => bytes,
            Some(_) => {
                return Err(Error::CorruptRecord {
                    path: "sys/token/salt".into(),
                    reason: "salt is not 32 bytes".into(),
                });
            }
            None => {
                let fresh = Zeroizing::new(random_bytes::<32>()?.to_vec());
                view.put("salt", &fresh)
                    .await
                    .map_err(Error::from_barrier)?;
                fresh
            }
        };
        Ok(TokenStore {
            view,
            salt: hmac::Key::new(hmac::HMAC_SHA256, &salt),
            clock,
            hook,
            suffix,
            cache: Mutex::new(HashMap::new()),
        })
    }

    fn hash_of(&self, text: &str) -> TokenHash {
        TokenHash(hex::encode(
            hmac::sign(&self.salt, text.as_bytes()).as_ref(),
        ))
    }

    fn accessor_key(&self, accessor: &Accessor) -> String {
        format!(
            "accessor/{}",
            self.hash_of(&format!("accessor:{}", accessor.0)).0
        )
    }

    fn cache_get(&self, hash: &TokenHash) -> Option<Arc<TokenEntry>> {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(hash)
            .cloned()
    }

    fn cache_put(&self, entry: &Arc<TokenEntry>) {
        if entry.num_uses > 0 {
            return;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(entry.hash.clone(), entry.clone());
    }

    /// Drops every cached entry (another node changed tokens).
    pub(crate) fn forget_cached(&self) {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    fn cache_forget(&self, hash: &TokenHash) {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(hash);
    }

    /// Creates a token, child of `parent` unless `parent` is `None` (an orphan). Durable before
    /// it returns.
    pub async fn create(
        &self,
        request: TokenRequest,
        parent: Option<&TokenEntry>,
    ) -> Result<IssuedToken> {
        let now = self.clock.now();
        let is_root = request.policies.iter().any(|p| p == "root");
        let ttl = effective_ttl(&request, is_root);
        let token = match request.id {
            Some(id) => ClientToken::new(format!("{}{}", id.expose(), self.suffix)),
            None => ClientToken::new(format!("s.{}{}", random_text(24)?.as_str(), self.suffix)),
        };
        let hash = self.hash_of(token.expose());
        if self
            .view
            .get(&format!("id/{}", hash.0))
            .await
            .map_err(Error::from_barrier)?
            .is_some()
        {
            return Err(Error::invalid("cannot create a token with a duplicate ID"));
        }
        let accessor = Accessor(format!("{}{}", random_text(24)?.as_str(), self.suffix));
        let expire_time = if ttl.is_zero() {
            None
        } else {
            Some(now + ttl.duration())
        };
        let entry = Arc::new(TokenEntry {
            hash: hash.clone(),
            accessor,
            parent: parent.map(|p| p.hash.clone()),
            policies: request.policies,
            path: request.path,
            meta: request.meta,
            display_name: request.display_name,
            num_uses: request.num_uses,
            creation_time: now,
            creation_ttl: ttl,
            expire_time,
            explicit_max_ttl: request.explicit_max_ttl,
            period: request.period,
            renewable: request.renewable && !ttl.is_zero(),
            last_renewal: None,
            identity: request
                .identity
                .or_else(|| parent.and_then(|p| p.identity.clone())),
            entity_id: if request.entity_id.is_empty() {
                parent.map(|p| p.entity_id.clone()).unwrap_or_default()
            } else {
                request.entity_id
            },
        });
        let mut ops = vec![
            BarrierOp::Expect {
                path: format!("id/{}", hash.0),
                stamp: None,
            },
            BarrierOp::Put {
                path: format!("id/{}", hash.0),
                value: entry.encode(),
            },
            BarrierOp::Put {
                path: self.accessor_key(&entry.accessor),
                value: Zeroizing::new(hash.0.clone().into_bytes()),
            },
        ];
        if let Some(parent) = parent {
            ops.push(BarrierOp::Put {
                path: format!("parent/{}/{}", parent.hash.0, hash.0),
                value: Zeroizing::new(Vec::new()),
            });
        }
        if let Some(expire) = expire_time {
            ops.push(BarrierOp::Put {
                path: expiry_key(expire, &hash),
                value: Zeroizing::new(Vec::new()),
            });
        }
        self.view
            .transaction(ops)
            .await
            .map_err(|e| match Error::from_barrier(e) {
                Error::Conflict => Error::invalid("cannot create a token with a duplicate ID"),
                other => other,
            })?;
        Ok(IssuedToken { token, entry })
    }

    async fn load(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(Arc<TokenEntry>, coffer_barrier::Stamp)>> {
        let path = format!("id/{}", hash.0);
        match self
            .view
            .get_stamped(&path)
            .await
            .map_err(Error::from_barrier)?
        {
            None => Ok(None),
            Some((bytes, stamp)) => {
                let entry = TokenEntry::decode(hash.clone(), &bytes, &format!("sys/token/{path}"))?;
                Ok(Some((Arc::new(entry), stamp)))
            }
        }
    }

    async fn entry(&self, hash: &TokenHash) -> Result<Option<Arc<TokenEntry>>> {
        if let Some(entry) = self.cache_get(hash) {
            return Ok(Some(entry));
        }
        let loaded = self.load(hash).await?.map(|(entry, _)| entry);
        if let Some(entry) = &loaded {
            self.cache_put(entry);
        }
        Ok(loaded)
    }

    /// The live entry for a token, or `None` when it is unknown, revoked or expired. An expired
    /// token found here is revoked on the spot.
    pub async fn lookup(&self, token: &ClientToken) -> Result<Option<Arc<TokenEntry>>> {
        let hash = self.hash_of(token.expose());
        self.live(&hash).await
    }

    async fn live(&self, hash: &TokenHash) -> Result<Option<Arc<TokenEntry>>> {
        let Some(entry) = self.entry(hash).await? else {
            return Ok(None);
        };
        if entry.is_expired(self.clock.now()) {
            self.revoke_tree(hash).await?;
            return Ok(None);
        }
        Ok(Some(entry))
    }

    /// Authenticates a request's token and counts one use of a limited-use token (revoking it
    /// when that was its last use). Unknown, expired and revoked tokens are `PermissionDenied`.
    pub async fn authenticate(&self, token: &ClientToken) -> Result<Arc<TokenEntry>> {
        let hash = self.hash_of(token.expose());
        let entry = self.live(&hash).await?.ok_or(Error::PermissionDenied)?;
        if entry.num_uses == 0 {
            return Ok(entry);
        }
        for _ in 0..16 {
            let Some((current, stamp)) = self.load(&hash).await? else {
                return Err(Error::PermissionDenied);
            };
            if current.num_uses <= 1 {
                self.revoke_tree(&hash).await?;
                return Ok(current);
            }
            let mut next = (*current).clone();
            next.num_uses -= 1;
            let path = format!("id/{}", hash.0);
            let ops = vec![
                BarrierOp::Expect {
                    path: path.clone(),
                    stamp: Some(stamp),
                },
                BarrierOp::Put {
                    path,
                    value: next.encode(),
                },
            ];
            match self
                .view
                .transaction(ops)
                .await
                .map_err(Error::from_barrier)
            {
                Ok(()) => return Ok(current),
                Err(Error::Conflict) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(Error::Conflict)
    }

    /// The live entry behind an accessor.
    pub async fn lookup_accessor(&self, accessor: &Accessor) -> Result<Option<Arc<TokenEntry>>> {
        let Some(hash) = self
            .view
            .get(&self.accessor_key(accessor))
            .await
            .map_err(Error::from_barrier)?
        else {
            return Ok(None);
        };
        let hash =
            TokenHash(
                String::from_utf8(hash.to_vec()).map_err(|_| Error::CorruptRecord {
                    path: "sys/token/accessor".into(),
                    reason: "accessor index is not UTF-8".into(),
                })?,
            );
        self.live(&hash).await
    }

    /// Every live accessor (for `auth/token/accessors`).
    pub async fn accessors(&self) -> Result<Vec<Accessor>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let keys = self
                .view
                .scan("id/", after.as_deref(), 1000)
                .await
                .map_err(Error::from_barrier)?;
            let Some(last) = keys.last().cloned() else {
                break;
            };
            for key in keys {
                let hash = TokenHash(key.trim_start_matches("id/").to_owned());
                if let Some(entry) = self.live(&hash).await? {
                    out.push(entry.accessor.clone());
                }
            }
            after = Some(last);
        }
        Ok(out)
    }

    /// Revokes a token and, recursively, every token it created. Revoking an unknown token is
    /// not an error.
    pub async fn revoke(&self, token: &ClientToken) -> Result<()> {
        let hash = self.hash_of(token.expose());
        self.revoke_tree(&hash).await
    }

    /// Revokes the token behind an accessor and its children.
    pub async fn revoke_accessor(&self, accessor: &Accessor) -> Result<()> {
        let Some(hash) = self
            .view
            .get(&self.accessor_key(accessor))
            .await
            .map_err(Error::from_barrier)?
        else {
            return Ok(());
        };
        let hash = TokenHash(String::from_utf8_lossy(&hash).into_owned());
        self.revoke_tree(&hash).await
    }

    /// Revokes only this token; its children become orphans.
    pub async fn revoke_orphan(&self, token: &ClientToken) -> Result<()> {
        let hash = self.hash_of(token.expose());
        let children = self.children(&hash).await?;
        for child in &children {
            if let Some((entry, stamp)) = self.load(child).await? {
                let mut orphan = (*entry).clone();
                orphan.parent = None;
                let path = format!("id/{}", child.0);
                let ops = vec![
                    BarrierOp::Expect {
                        path: path.clone(),
                        stamp: Some(stamp),
                    },
                    BarrierOp::Put {
                        path,
                        value: orphan.encode(),
                    },
                    BarrierOp::Delete {
                        path: format!("parent/{}/{}", hash.0, child.0),
                    },
                ];
                self.view
                    .transaction(ops)
                    .await
                    .map_err(Error::from_barrier)?;
                self.cache_forget(child);
            }
        }
        self.revoke_one(&hash).await
    }

    async fn children(&self, hash: &TokenHash) -> Result<Vec<TokenHash>> {
        let prefix = format!("parent/{}/", hash.0);
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let keys = self
                .view
                .scan(&prefix, after.as_deref(), 1000)
                .await
                .map_err(Error::from_barrier)?;
            let Some(last) = keys.last().cloned() else {
                break;
            };
            out.extend(keys.iter().map(|k| TokenHash(k[prefix.len()..].to_owned())));
            after = Some(last);
        }
        Ok(out)
    }

    async fn revoke_tree(&self, root: &TokenHash) -> Result<()> {
        // Depth-first, children before parents, so a crash midway never leaves a child whose
        // parent is gone but which is still reachable only through that parent.
        let mut stack = vec![(root.clone(), false)];
        while let Some((hash, expanded)) = stack.pop() {
            if expanded {
                self.revoke_one(&hash).await?;
            } else {
                stack.push((hash.clone(), true));
                for child in self.children(&hash).await? {
                    stack.push((child, false));
                }
            }
        }
        Ok(())
    }

    async fn revoke_one(&self, hash: &TokenHash) -> Result<()> {
        self.cache_forget(hash);
        let Some((entry, _)) = self.load(hash).await? else {
            return Ok(());
        };
        self.hook.token_revoked(hash.as_str()).await?;
        let mut ops = vec![
            BarrierOp::Delete {
                path: format!("id/{}", hash.0),
            },
            BarrierOp::Delete {
                path: self.accessor_key(&entry.accessor),
            },
        ];
        if let Some(parent) = &entry.parent {
            ops.push(BarrierOp::Delete {
                path: format!("parent/{}/{}", parent.0, hash.0),
            });
        }
        if let Some(expire) = entry.expire_time {
            ops.push(BarrierOp::Delete {
                path: expiry_key(expire, hash),
            });
        }
        self.view
            .transaction(ops)
            .await
            .map_err(Error::from_barrier)?;
        self.cache_forget(hash);
        Ok(())
    }

    /// Renews a token: its new TTL is `increment` (or its original TTL), capped by its explicit
    /// max TTL and the system maximum counted from creation; periodic tokens get their period.
    pub async fn renew(&self, token: &ClientToken, increment: Ttl) -> Result<Arc<TokenEntry>> {
        let hash = self.hash_of(token.expose());
        self.renew_hash(&hash, increment).await
    }

    /// Renews the token behind a stored entry (for renewal by accessor).
    pub async fn renew_entry(&self, entry: &TokenEntry, increment: Ttl) -> Result<Arc<TokenEntry>> {
        self.renew_hash(&entry.hash, increment).await
    }

    async fn renew_hash(&self, hash: &TokenHash, increment: Ttl) -> Result<Arc<TokenEntry>> {
        for _ in 0..16 {
            let now = self.clock.now();
            let Some((current, stamp)) = self.load(hash).await? else {
                return Err(Error::BadToken);
            };
            if current.is_expired(now) {
                self.revoke_tree(hash).await?;
                return Err(Error::BadToken);
            }
            let Some(old_expire) = current.expire_time else {
                // A non-expiring token has nothing to renew; Vault answers with it unchanged.
                return Ok(current);
            };
            if !current.renewable {
                return Err(Error::invalid("lease is not renewable"));
            }
            let wanted = if !current.period.is_zero() {
                current.period.duration()
            } else if !increment.is_zero() {
                increment.duration()
            } else {
                current.creation_ttl.duration()
            };
            let mut expire = now + wanted;
            let mut cap = current.creation_time + SYSTEM_MAX_TTL;
            if !current.explicit_max_ttl.is_zero() {
                cap = cap.min(current.creation_time + current.explicit_max_ttl.duration());
            }
            if current.period.is_zero() || !current.explicit_max_ttl.is_zero() {
                expire = expire.min(cap);
            }
            let mut next = (*current).clone();
            next.expire_time = Some(expire);
            next.last_renewal = Some(now);
            let path = format!("id/{}", hash.0);
            let ops = vec![
                BarrierOp::Expect {
                    path: path.clone(),
                    stamp: Some(stamp),
                },
                BarrierOp::Put {
                    path,
                    value: next.encode(),
                },
                BarrierOp::Delete {
                    path: expiry_key(old_expire, hash),
                },
                BarrierOp::Put {
                    path: expiry_key(expire, hash),
                    value: Zeroizing::new(Vec::new()),
                },
            ];
            match self
                .view
                .transaction(ops)
                .await
                .map_err(Error::from_barrier)
            {
                Ok(()) => {
                    self.cache_forget(hash);
                    return Ok(Arc::new(next));
                }
                Err(Error::Conflict) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(Error::Conflict)
    }

    /// Revokes every token whose expiry time has passed; returns how many expired tokens were
    /// found. Durable: the expiry index lives in storage, so a restart loses nothing.
    pub async fn reap_expired(&self) -> Result<usize> {
        let now_key = format!("expiry/{:020}/", nanos(self.clock.now()));
        let mut reaped = 0;
        loop {
            let keys = self
                .view
                .scan("expiry/", None, 256)
                .await
                .map_err(Error::from_barrier)?;
            let due: Vec<&String> = keys
                .iter()
                .filter(|k| k.as_str() < now_key.as_str())
                .collect();
            if due.is_empty() {
                return Ok(reaped);
            }
            for key in due {
                let hash = key.rsplit('/').next().map(|h| TokenHash(h.to_owned()));
                if let Some(hash) = hash
                    && let Some((entry, _)) = self.load(&hash).await?
                    && entry.is_expired(self.clock.now())
                {
                    self.revoke_tree(&hash).await?;
                }
                // Whatever the token's state, this index entry is spent; deleting it always
                // makes progress (a renewed token has a newer entry of its own).
                self.view.delete(key).await.map_err(Error::from_barrier)?;
                reaped += 1;
            }
        }
    }
}

fn effective_ttl(request: &TokenRequest, is_root: bool) -> Ttl {
    let mut ttl = if !request.period.is_zero() {
        request.period
    } else if !request.ttl.is_zero() {
        request.ttl
    } else if is_root && request.explicit_max_ttl.is_zero() {
        Ttl::ZERO
    } else {
        Ttl::from(SYSTEM_MAX_TTL)
    };
    if !request.explicit_max_ttl.is_zero() && (ttl.is_zero() || ttl > request.explicit_max_ttl) {
        ttl = request.explicit_max_ttl;
    }
    if request.period.is_zero() && ttl.duration() > SYSTEM_MAX_TTL {
        ttl = Ttl::from(SYSTEM_MAX_TTL);
    }
    ttl
}
