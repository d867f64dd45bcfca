//! The six credential types and their wire names.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// One of the six credential types; each has its own validation and metadata extraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CredentialType {
    /// A string token for an external API (`api-key`).
    ApiKey,
    /// An OAuth 2.0 access token, bare or as a token-response JSON (`oauth-token`).
    OauthToken,
    /// An SSH private key (`ssh-key`).
    SshKey,
    /// A PEM certificate chain plus its private key (`tls-certificate`).
    TlsCertificate,
    /// A database connection URL (`database-url`).
    DatabaseUrl,
    /// Any other secret; only checked for being non-empty (`generic-secret`).
    GenericSecret,
}

impl CredentialType {
    /// Every type, in documentation order.
    pub const ALL: [CredentialType; 6] = [
        CredentialType::ApiKey,
        CredentialType::OauthToken,
        CredentialType::SshKey,
        CredentialType::TlsCertificate,
        CredentialType::DatabaseUrl,
        CredentialType::GenericSecret,
    ];

    /// The wire name, e.g. `"api-key"`.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialType::ApiKey => "api-key",
            CredentialType::OauthToken => "oauth-token",
            CredentialType::SshKey => "ssh-key",
            CredentialType::TlsCertificate => "tls-certificate",
            CredentialType::DatabaseUrl => "database-url",
            CredentialType::GenericSecret => "generic-secret",
        }
    }
}

impl FromStr for CredentialType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        CredentialType::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| Error::UnknownType(s.chars().take(64).collect()))
    }
}

impl fmt::Display for CredentialType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
