//! Reading the secrets `coffer run` and `coffer inject` need: the options they share (mount,
//! environment, cache), KV v2 paths built from them, and a reader that fetches many secrets in one
//! `sys/batch/read` request and falls back to the local encrypted cache (when enabled) if the
//! server cannot be reached.

use anyhow::Context;
use clap::Args;
use coffer_client::Client;
use serde_json::{Map, Value, json};

use crate::cli::ClientArgs;
use crate::commands::secret_cache::Cache;
use crate::connection;

/// The most paths one `sys/batch/read` request accepts (the server's limit).
const BATCH_LIMIT: usize = 256;

/// Where the secrets are read from; shared by `coffer run` and `coffer inject`.
#[derive(Debug, Clone, Args)]
pub(crate) struct SourceArgs {
    /// The KV v2 mount holding the secrets [env: COFFER_SECRETS_MOUNT].
    #[arg(long, env = "COFFER_SECRETS_MOUNT", default_value = "secret")]
    pub(crate) mount: String,
    /// The environment, e.g. `production`: secrets are read below `<env>/` in the mount.
    #[arg(long)]
    pub(crate) env: Option<String>,
    /// Keep what was read in the local encrypted cache and use it, with a warning, when the
    /// server cannot be reached (off by default) [env: COFFER_CACHE=1].
    #[arg(long, env = "COFFER_CACHE", value_parser = clap::builder::FalseyValueParser::new())]
    pub(crate) cache: bool,
}

/// A checked environment name (the tag syntax `[a-z0-9][a-z0-9_.-]{0,63}`).
pub(crate) fn checked_env(env: Option<&str>) -> anyhow::Result<Option<&str>> {
    let Some(env) = env else { return Ok(None) };
    let valid = env.len() <= 64
        && env
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && env
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
    if !valid {
        anyhow::bail!(
            "invalid environment {env:?}: use lowercase letters, digits, '_', '.' and '-' (at most 64, starting with a letter or digit)"
        );
    }
    Ok(Some(env))
}

/// A checked mount name: non-empty, no leading or trailing `/`, no empty segment.
pub(crate) fn checked_mount(mount: &str) -> anyhow::Result<&str> {
    let mount = mount.trim_end_matches('/');
    if mount.is_empty()
        || mount
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
    {
        anyhow::bail!("invalid mount {mount:?}");
    }
    Ok(mount)
}

/// The KV v2 data path of secret `path` in `mount`, below `<env>/` when an environment is given.
pub(crate) fn data_path(mount: &str, env: Option<&str>, path: &str) -> String {
    match env {
        Some(env) => format!("{mount}/data/{env}/{path}"),
        None => format!("{mount}/data/{path}"),
    }
}

/// Reads secrets from the server, or from the cache when it is enabled and the server is down.
pub(crate) struct Reader {
    client: Client,
    cache: Option<Cache>,
    offline: bool,
}

impl Reader {
    /// A reader for the configured server; `use_cache` opens the local cache (which needs a
    /// token to derive its key).
    pub(crate) fn new(args: &ClientArgs, use_cache: bool) -> anyhow::Result<Reader> {
        let client = connection::client(args)?;
        let cache = if use_cache {
            let token = connection::token()?
                .context("the cache is keyed by the token: log in or set COFFER_TOKEN")?;
            let address = connection::address(args);
            let namespace = connection::namespace(args);
            Some(Cache::open(&address, namespace.as_deref(), &token)?)
        } else {
            None
        };
        Ok(Reader {
            client,
            cache,
            offline: false,
        })
    }

    /// Reads the KV v2 secrets at `paths` (full data paths, e.g. `secret/data/API_KEY`) in as few
    /// requests as the server's batch limit allows: the data of each, `None` when missing.
    pub(crate) async fn read_many(
        &mut self,
        paths: &[String],
    ) -> anyhow::Result<Vec<Option<Map<String, Value>>>> {
        let mut out = Vec::with_capacity(paths.len());
        for chunk in paths.chunks(BATCH_LIMIT) {
            let answers = if self.offline {
                None
            } else {
                match self.batch(chunk).await {
                    Ok(answers) => Some(answers),
                    Err(error) if self.cache.is_some() && unreachable(&error) => {
                        self.go_offline(&error);
                        None
                    }
                    Err(error) => return Err(error),
                }
            };
            match answers {
                Some(answers) => {
                    for (path, data) in chunk.iter().zip(answers) {
                        if let Some(cache) = &mut self.cache {
                            let cached = data.clone().map_or(Value::Null, Value::Object);
                            cache.put(&format!("read {path}"), cached);
                        }
                        out.push(data);
                    }
                }
                None => {
                    for path in chunk {
                        out.push(self.cached(&format!("read {path}"))?.and_then(
                            |value| match value {
                                Value::Object(map) => Some(map),
                                _ => None,
                            },
                        ));
                    }
                }
            }
        }
        Ok(out)
    }

    /// The keys directly under a KV v2 folder (`secret/metadata/production/`), folders excluded.
    pub(crate) async fn list_secrets(
        &mut self,
        metadata_path: &str,
    ) -> anyhow::Result<Vec<String>> {
        let request = format!("list {metadata_path}");
        let keys = if self.offline {
            self.cached(&request)?.unwrap_or(Value::Null)
        } else {
            match self.client.list(metadata_path).await {
                Ok(envelope) => {
                    let keys = envelope
                        .and_then(|e| e.data)
                        .and_then(|mut data| data.remove("keys"))
                        .unwrap_or_else(|| json!([]));
                    if let Some(cache) = &mut self.cache {
                        cache.put(&request, keys.clone());
                    }
                    keys
                }
                Err(error) if self.cache.is_some() && unreachable_client(&error) => {
                    let error = anyhow::Error::new(error);
                    self.go_offline(&error);
                    self.cached(&request)?.unwrap_or(Value::Null)
                }
                Err(error) => {
                    return Err(error).with_context(|| format!("listing {metadata_path}"));
                }
            }
        };
        let keys = match keys {
            Value::Array(keys) => keys,
            _ => Vec::new(),
        };
        Ok(keys
            .into_iter()
            .filter_map(|key| match key {
                Value::String(key) if !key.ends_with('/') => Some(key),
                _ => None,
            })
            .collect())
    }

    /// Saves the cache when it is enabled and what was read came from the server.
    pub(crate) fn finish(self) -> anyhow::Result<()> {
        match self.cache {
            Some(cache) if !self.offline => cache.save(),
            _ => Ok(()),
        }
    }

    fn go_offline(&mut self, error: &anyhow::Error) {
        self.offline = true;
        let file = self
            .cache
            .as_ref()
            .map(|c| c.file().display().to_string())
            .unwrap_or_default();
        eprintln!(
            "Warning: the server cannot be reached ({}); using cached secrets from {file}",
            root_cause(error)
        );
    }

    /// The cached answer to `request`; an error when the cache does not have it.
    fn cached(&self, request: &str) -> anyhow::Result<Option<Value>> {
        let cache = self.cache.as_ref().context("the cache is not enabled")?;
        let (value, _at) = cache.get(request).with_context(|| {
            let what = request.split_once(' ').map_or(request, |(_, p)| p);
            format!("the server cannot be reached and {what} is not in the local cache")
        })?;
        Ok(match value {
            Value::Null => None,
            other => Some(other.clone()),
        })
    }

    async fn batch(&self, paths: &[String]) -> anyhow::Result<Vec<Option<Map<String, Value>>>> {
        let body = json!({ "paths": paths });
        let reply = match self.client.raw("POST", "sys/batch/read", Some(&body)).await {
            Ok(reply) if reply.status == 404 => return self.one_by_one(paths).await,
            Err(error) if matches!(error.status(), Some(404 | 405)) => {
                return self.one_by_one(paths).await;
            }
            other => other.context("reading secrets (sys/batch/read)")?,
        };
        let responses = reply
            .body
            .as_ref()
            .and_then(|b| b.pointer("/data/responses"))
            .and_then(Value::as_array)
            .context("sys/batch/read answered without data.responses")?;
        if responses.len() != paths.len() {
            anyhow::bail!(
                "sys/batch/read answered {} of {} paths",
                responses.len(),
                paths.len()
            );
        }
        paths
            .iter()
            .zip(responses)
            .map(|(path, response)| batch_item(path, response))
            .collect()
    }

    /// Reads each path on its own, for servers without `sys/batch/read` (Vault, OpenBao).
    async fn one_by_one(
        &self,
        paths: &[String],
    ) -> anyhow::Result<Vec<Option<Map<String, Value>>>> {
        let mut out = Vec::with_capacity(paths.len());
        for path in paths {
            let envelope = self
                .client
                .read(path)
                .await
                .with_context(|| format!("reading {path}"))?;
            let data = envelope.and_then(|e| e.data).map(Value::Object);
            let item = match data {
                Some(data) => json!({ "status": 200, "data": data }),
                None => json!({ "status": 404 }),
            };
            out.push(batch_item(path, &item)?);
        }
        Ok(out)
    }
}

fn batch_item(path: &str, response: &Value) -> anyhow::Result<Option<Map<String, Value>>> {
    let status = response.get("status").and_then(Value::as_u64).unwrap_or(0);
    match status {
        200 => {
            let data = response
                .pointer("/data/data")
                .with_context(|| format!("{path} is not a KV v2 secret (is the mount KV v2?)"))?;
            match data {
                Value::Object(map) => Ok(Some(map.clone())),
                // A deleted or destroyed version reads as data `null`.
                Value::Null => Ok(None),
                _ => anyhow::bail!("{path} is not a KV v2 secret (is the mount KV v2?)"),
            }
        }
        404 => Ok(None),
        _ => {
            let errors: Vec<String> = response
                .get("errors")
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            anyhow::bail!("reading {path}: code {status}: {}", errors.join("; "))
        }
    }
}

fn unreachable_client(error: &coffer_client::Error) -> bool {
    matches!(error, coffer_client::Error::Transport { .. })
}

fn unreachable(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<coffer_client::Error>())
        .any(unreachable_client)
}

fn root_cause(error: &anyhow::Error) -> String {
    error
        .chain()
        .last()
        .map(ToString::to_string)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environments_and_paths() {
        assert_eq!(
            checked_env(Some("production")).ok().flatten(),
            Some("production")
        );
        for bad in ["", "Prod", "-x", "a/b", "x y"] {
            assert!(checked_env(Some(bad)).is_err(), "{bad:?}");
        }
        assert_eq!(
            data_path("secret", Some("dev"), "API_KEY"),
            "secret/data/dev/API_KEY"
        );
        assert_eq!(data_path("kv", None, "a/b"), "kv/data/a/b");
        assert!(checked_mount("/").is_err());
        assert_eq!(checked_mount("secret/").ok(), Some("secret"));
    }

    #[test]
    fn batch_items_map_statuses() {
        let ok = json!({"status": 200, "data": {"data": {"value": "v"}, "metadata": {}}});
        let map = batch_item("p", &ok).ok().flatten().expect("data");
        assert_eq!(map["value"], "v");
        assert!(
            batch_item("p", &json!({"status": 404}))
                .expect("missing")
                .is_none()
        );
        let denied = json!({"status": 403, "errors": ["permission denied"]});
        let error = format!(
            "{:#}",
            batch_item("secret/data/x", &denied).expect_err("403")
        );
        assert!(
            error.contains("secret/data/x") && error.contains("permission denied"),
            "{error}"
        );
    }
}
