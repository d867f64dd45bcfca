//! Audit: devices that record every request and response as Vault-compatible JSON lines, with
//! every string value, token and accessor replaced by an HMAC-SHA256 under a per-device salt, and
//! each record carrying the hash of the one before it so edits, deletions, insertions and
//! reordering can be detected (`verify`). It knows nothing of HTTP, tokens or storage: the core
//! hands it plain `AuditEvent`s.
