//! How the CLI finds its server, namespace and token: flags, then `COFFER_*`, then `VAULT_*`
//! variables, then (for the token) the token file written by `coffer login` (`~/.coffer-token`, mode 0600; `COFFER_TOKEN_FILE`
//! overrides the path), then `~/.vault-token` as written by `vault`/`bao login`.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use coffer_client::{Client, ClientConfig};

use crate::cli::ClientArgs;

fn env_first(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

/// Where `coffer login` stores the token.
pub(crate) fn token_file() -> Option<PathBuf> {
    match env_first(&["COFFER_TOKEN_FILE"]) {
        Some(path) => Some(PathBuf::from(path)),
        None => home().map(|h| h.join(".coffer-token")),
    }
}

/// The token to use, if any.
pub(crate) fn token() -> anyhow::Result<Option<String>> {
    if let Some(token) = env_first(&["COFFER_TOKEN", "VAULT_TOKEN"]) {
        return Ok(Some(token));
    }
    let candidates = [token_file(), home().map(|h| h.join(".vault-token"))];
    for path in candidates.into_iter().flatten() {
        match std::fs::read_to_string(&path) {
            Ok(text) if !text.trim().is_empty() => return Ok(Some(text.trim().to_owned())),
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(error)
                    .with_context(|| format!("reading token file {}", path.display()));
            }
        }
    }
    Ok(None)
}

/// Writes the token file with mode 0600.
pub(crate) fn store_token(token: &str) -> anyhow::Result<PathBuf> {
    let path = token_file()
        .context("cannot find a home directory for the token file (set COFFER_TOKEN_FILE)")?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(&path)
        .with_context(|| format!("writing token file {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("setting the mode of {}", path.display()))?;
    }
    file.write_all(token.as_bytes())
        .with_context(|| format!("writing token file {}", path.display()))?;
    Ok(path)
}

/// The server address.
pub(crate) fn address(args: &ClientArgs) -> String {
    args.address
        .clone()
        .or_else(|| env_first(&["COFFER_ADDR", "VAULT_ADDR"]))
        .unwrap_or_else(|| "http://127.0.0.1:8200".to_owned())
}

/// The namespace every request addresses (`X-Vault-Namespace`), if any.
pub(crate) fn namespace(args: &ClientArgs) -> Option<String> {
    args.namespace
        .clone()
        .or_else(|| env_first(&["COFFER_NAMESPACE", "VAULT_NAMESPACE"]))
        .filter(|n| !n.trim().is_empty())
}

/// A client for the configured server, namespace and token.
pub(crate) fn client(args: &ClientArgs) -> anyhow::Result<Client> {
    let mut config = ClientConfig::new(address(args));
    config.token = token()?;
    config.namespace = namespace(args);
    let ca = args
        .ca_cert
        .clone()
        .or_else(|| env_first(&["COFFER_CACERT", "VAULT_CACERT"]).map(PathBuf::from));
    if let Some(ca) = ca {
        config.ca_cert_pem = Some(
            std::fs::read(&ca)
                .with_context(|| format!("reading CA certificate {}", ca.display()))?,
        );
    }
    config.tls_skip_verify = args.tls_skip_verify
        || env_first(&["COFFER_SKIP_VERIFY", "VAULT_SKIP_VERIFY"])
            .is_some_and(|v| v == "1" || v == "true");
    Ok(Client::new(config)?)
}
