//! Pure typed credentials: the six credential types (`api-key`, `oauth-token`, `ssh-key`,
//! `tls-certificate`, `database-url`, `generic-secret`), their validation, and the extraction of
//! non-secret metadata (key fingerprints, certificate subjects, database hosts, token expiry).
//! No IO, no async, no storage, no HTTP: this crate never knows where credentials are kept.
//!
//! Invariant: no secret part of a value (key material, passwords, tokens, passphrases) ever
//! reaches [`Inspection::metadata`], [`Inspection::warnings`] or an [`Error`].
//!
//! Flow: parse the type with [`CredentialType::from_str`](std::str::FromStr), check the name
//! with [`validate_name`], then call [`inspect`] with the value.

mod api_key;
mod database;
mod der;
mod error;
mod kind;
mod name;
mod oauth;
mod pem;
mod private_key;
mod secret;
mod ssh;
mod timestamp;
mod tls;

use std::collections::BTreeMap;
use std::time::SystemTime;

pub use error::{Error, Result};
pub use kind::CredentialType;
pub use name::{MAX_NAME_LEN, RESERVED_NAME, validate_name};
pub use secret::SecretValue;

/// Largest accepted credential value, in bytes.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;

/// What [`inspect`] learned about a valid credential value. Nothing here is secret.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Inspection {
    /// Extracted facts with camelCase keys (e.g. `fingerprint`, `host`, `expiresAt`).
    pub metadata: BTreeMap<String, String>,
    /// Problems that do not make the value invalid, e.g. an expired certificate.
    pub warnings: Vec<String>,
    /// When the credential stops working, if the value says so.
    pub expires_at: Option<SystemTime>,
}

impl Inspection {
    fn set(&mut self, key: &str, value: impl Into<String>) {
        self.metadata.insert(key.to_owned(), value.into());
    }

    fn warn(&mut self, warning: impl Into<String>) {
        self.warnings.push(warning.into());
    }
}

/// Validates `value` as `kind` and extracts non-secret metadata. Never puts any secret part
/// (key material, passwords, tokens, passphrases) into metadata, errors or warnings.
///
/// `passphrase` is only used by `ssh-key` (to check an encrypted key); other types ignore it
/// with a warning. `now` decides what counts as expired.
pub fn inspect(
    kind: CredentialType,
    value: &SecretValue,
    passphrase: Option<&SecretValue>,
    now: SystemTime,
) -> Result<Inspection> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(Error::TooLarge {
            len: value.len(),
            max: MAX_VALUE_BYTES,
        });
    }
    if value.expose().trim().is_empty() {
        return Err(Error::Empty { kind });
    }
    let mut inspection = Inspection::default();
    match kind {
        CredentialType::GenericSecret => {}
        CredentialType::ApiKey => api_key::inspect(value.expose(), &mut inspection),
        CredentialType::OauthToken => oauth::inspect(value.expose(), now, &mut inspection)?,
        CredentialType::SshKey => ssh::inspect(value.expose(), passphrase, &mut inspection)?,
        CredentialType::TlsCertificate => tls::inspect(value.expose(), now, &mut inspection)?,
        CredentialType::DatabaseUrl => database::inspect(value.expose(), &mut inspection)?,
    }
    if passphrase.is_some() && kind != CredentialType::SshKey {
        inspection.warn(format!(
            "a passphrase is not used by {kind} credentials; ignored"
        ));
    }
    Ok(inspection)
}
