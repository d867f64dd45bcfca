//! `coffer status` and `coffer operator init|unseal|seal|rotate|key-status`.

use coffer_api::SealStatus;
use coffer_client::Client;
use serde_json::{Value, json};

use super::{Outcome, read_secret};
use crate::output::{self, Format};

fn status_rows(status: &SealStatus, ha_enabled: Option<bool>) -> Vec<(String, String)> {
    let mut rows = vec![
        ("Seal Type".to_owned(), status.seal_type.clone()),
        ("Initialized".to_owned(), status.initialized.to_string()),
        ("Sealed".to_owned(), status.sealed.to_string()),
        ("Total Shares".to_owned(), status.n.to_string()),
        ("Threshold".to_owned(), status.t.to_string()),
    ];
    if status.sealed {
        rows.push((
            "Unseal Progress".to_owned(),
            format!("{}/{}", status.progress, status.t),
        ));
        rows.push((
            "Unseal Nonce".to_owned(),
            if status.nonce.is_empty() {
                "n/a".into()
            } else {
                status.nonce.clone()
            },
        ));
    }
    rows.push(("Version".to_owned(), status.version.clone()));
    rows.push(("Storage Type".to_owned(), status.storage_type.clone()));
    if let Some(name) = &status.cluster_name {
        rows.push(("Cluster Name".to_owned(), name.clone()));
    }
    if let Some(id) = &status.cluster_id {
        rows.push(("Cluster ID".to_owned(), id.clone()));
    }
    if let Some(ha) = ha_enabled {
        rows.push(("HA Enabled".to_owned(), ha.to_string()));
    }
    rows
}

fn print_status(format: Format, status: &SealStatus, ha_enabled: Option<bool>) {
    match format {
        Format::Json | Format::Yaml => {
            let mut value = serde_json::to_value(status).unwrap_or(Value::Null);
            if let (Some(map), Some(ha)) = (value.as_object_mut(), ha_enabled) {
                map.insert("ha_enabled".into(), json!(ha));
            }
            output::encoded(format, &value);
        }
        Format::Table => output::table(&status_rows(status, ha_enabled)),
    }
}

/// `coffer status`: exit 0 when unsealed, 2 when sealed.
pub(crate) async fn status(client: &Client, format: Format) -> anyhow::Result<Outcome> {
    let status = client.seal_status().await?;
    let ha = if status.sealed {
        None
    } else {
        client.leader().await.ok().map(|l| l.ha_enabled)
    };
    print_status(format, &status, ha);
    Ok(if status.sealed {
        Outcome::Sealed
    } else {
        Outcome::Success
    })
}

/// `coffer operator init`.
pub(crate) async fn init(
    client: &Client,
    format: Format,
    shares: u64,
    threshold: u64,
) -> anyhow::Result<Outcome> {
    let reply = client.init(shares, threshold).await?;
    match format {
        Format::Json | Format::Yaml => output::encoded(
            format,
            &json!({
                "unseal_keys_b64": reply.keys_base64,
                "unseal_keys_hex": reply.keys,
                "unseal_shares": shares,
                "unseal_threshold": threshold,
                "recovery_keys_b64": [],
                "recovery_keys_hex": [],
                "recovery_keys_shares": 0,
                "recovery_keys_threshold": 0,
                "root_token": reply.root_token,
            }),
        ),
        Format::Table => {
            for (i, key) in reply.keys_base64.iter().enumerate() {
                output::line(&format!("Unseal Key {}: {key}", i + 1));
            }
            output::line("");
            output::line(&format!("Initial Root Token: {}", reply.root_token));
            output::line("");
            output::line(&format!(
                "Coffer initialized with {shares} key shares and a key threshold of {threshold}. Please securely\n\
                 distribute the key shares printed above. When the server is restarted, it starts sealed:\n\
                 provide at least {threshold} of these keys with `coffer operator unseal` to unseal it.\n\n\
                 The root key is never kept anywhere else. If you lose {threshold} or more of these keys,\n\
                 the data is gone for good."
            ));
        }
    }
    Ok(Outcome::Success)
}

/// `coffer operator unseal`.
pub(crate) async fn unseal(
    client: &Client,
    format: Format,
    key: Option<String>,
    reset: bool,
) -> anyhow::Result<Outcome> {
    let status = if reset {
        client.unseal_reset().await?
    } else {
        let key = read_secret(key, "Unseal Key (will be hidden): ")?;
        client.unseal(&key).await?
    };
    print_status(format, &status, None);
    Ok(Outcome::Success)
}

/// `coffer operator seal`.
pub(crate) async fn seal(client: &Client) -> anyhow::Result<Outcome> {
    client.seal().await?;
    output::line("Success! Coffer is sealed.");
    Ok(Outcome::Success)
}

/// `coffer operator key-status`.
pub(crate) async fn key_status(client: &Client, format: Format) -> anyhow::Result<Outcome> {
    let data = client.key_status().await?;
    match format {
        Format::Json | Format::Yaml => output::encoded(format, &Value::Object(data)),
        Format::Table => {
            let rows = vec![
                (
                    "Key Term".to_owned(),
                    data.get("term").map(output::cell).unwrap_or_default(),
                ),
                (
                    "Install Time".to_owned(),
                    data.get("install_time")
                        .map(output::cell)
                        .unwrap_or_default(),
                ),
                (
                    "Encryption Count".to_owned(),
                    data.get("encryptions")
                        .map(output::cell)
                        .unwrap_or_default(),
                ),
            ];
            output::table(&rows);
        }
    }
    Ok(Outcome::Success)
}

/// `coffer operator rotate`.
pub(crate) async fn rotate(client: &Client, format: Format) -> anyhow::Result<Outcome> {
    client.rotate().await?;
    if format == Format::Table {
        output::line("Success! Rotated key");
        output::line("");
    }
    key_status(client, format).await
}
