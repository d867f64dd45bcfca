//! A credential's policy (`defaultLeaseTTL`, `maxLeaseTTL`, `maxLeases`, `allowedIdentities`,
//! `rotation`, `database`) and the tenant defaults at `credentials/config`, parsed strictly from JSON (an
//! unknown field or a wrong type is a 400 naming it), and the rules built on them: which TTL a
//! lease gets and who may hold one.

use std::time::Duration;

use coffer_core::engine::Identity;
use coffer_core::ttl::Ttl;
use coffer_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Lease TTL when neither the request, the credential nor the tenant says.
pub(crate) const BUILTIN_DEFAULT_TTL: Duration = Duration::from_secs(3600);
/// Lease TTL cap when neither the credential nor the tenant says.
pub(crate) const BUILTIN_MAX_TTL: Duration = Duration::from_secs(24 * 3600);

/// One `allowedIdentities` entry: `type` and `name` with `*` globs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IdentityPattern {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) name: String,
}

impl IdentityPattern {
    fn parse(value: &Value, field: &str) -> Result<IdentityPattern> {
        let identity = Identity::pattern_from_json(value, field)?;
        Ok(IdentityPattern {
            kind: identity.kind,
            name: identity.name,
        })
    }

    pub(crate) fn matches(&self, identity: &Identity) -> bool {
        glob(&self.kind, &identity.kind) && glob(&self.name, &identity.name)
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// Rotation reminders: due every `period`, announced `notifyBefore` ahead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Rotation {
    pub(crate) enabled: bool,
    pub(crate) period_secs: u64,
    pub(crate) notify_before_secs: u64,
}

/// A credential's policy; every field optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CredentialPolicy {
    pub(crate) default_lease_ttl: Option<u64>,
    pub(crate) max_lease_ttl: Option<u64>,
    pub(crate) max_leases: Option<u64>,
    pub(crate) allowed_identities: Option<Vec<IdentityPattern>>,
    pub(crate) rotation: Option<Rotation>,
    #[serde(default)]
    pub(crate) database: Option<DatabaseLogin>,
}

/// `policy.database` of a `database-url` credential: the database config (of the database
/// engine mounted at `mount` in the same namespace) that `rotate` with `generate` creates each
/// new version's login with, and the statements it uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DatabaseLogin {
    /// The database engine's mount, e.g. `database/`.
    pub(crate) mount: String,
    /// The config name below it.
    pub(crate) config: String,
    /// Creates a login: templates with `{{name}}` and `{{password}}`.
    pub(crate) creation_statements: Vec<String>,
    /// Drops one (empty: the plugin's default).
    pub(crate) revocation_statements: Vec<String>,
}

fn parse_database(value: &Value) -> Result<DatabaseLogin> {
    let path = "policy.database";
    let map = object(value, path)?;
    refuse_unknown(
        map,
        &[
            "mount",
            "config",
            "creationStatements",
            "revocationStatements",
        ],
        path,
    )?;
    let text = |field: &str| -> Result<Option<String>> {
        match map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_owned())),
            Some(_) => Err(Error::invalid(format!(
                "{path}.{field} must be a non-empty string"
            ))),
        }
    };
    let list = |field: &str| -> Result<Vec<String>> {
        match map.get(field) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str().map(str::to_owned).ok_or_else(|| {
                        Error::invalid(format!("{path}.{field} must be a list of strings"))
                    })
                })
                .collect(),
            Some(_) => Err(Error::invalid(format!(
                "{path}.{field} must be a list of strings"
            ))),
        }
    };
    let mount = text("mount")?.unwrap_or_else(|| "database".to_owned());
    let mount = format!("{}/", mount.trim_matches('/'));
    let config = text("config")?.ok_or_else(|| {
        Error::invalid(format!(
            "{path}.config is required: the database config's name"
        ))
    })?;
    let creation_statements: Vec<String> = list("creationStatements")?
        .into_iter()
        .filter(|s| !s.trim().is_empty())
        .collect();
    if creation_statements.is_empty() {
        return Err(Error::invalid(format!(
            "{path}.creationStatements is required: statements that create a login from {{{{name}}}} and {{{{password}}}}"
        )));
    }
    Ok(DatabaseLogin {
        mount,
        config,
        creation_statements,
        revocation_statements: list("revocationStatements")?
            .into_iter()
            .filter(|s| !s.trim().is_empty())
            .collect(),
    })
}

fn duration_field(map: &Map<String, Value>, field: &str, path: &str) -> Result<Option<u64>> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value @ (Value::String(_) | Value::Number(_))) => {
            let ttl = Ttl::from_json(value).map_err(|e| {
                Error::invalid(format!(
                    "{path}.{field}: {e} (use e.g. \"30m\", \"1h\", \"7d\")"
                ))
            })?;
            if ttl.is_zero() {
                return Err(Error::invalid(format!("{path}.{field} must be positive")));
            }
            Ok(Some(ttl.as_secs().max(1)))
        }
        Some(_) => Err(Error::invalid(format!(
            "{path}.{field} must be a duration string such as \"1h\""
        ))),
    }
}

fn count_field(map: &Map<String, Value>, field: &str, path: &str) -> Result<Option<u64>> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if v >= 1 => Ok(Some(v)),
            _ => Err(Error::invalid(format!(
                "{path}.{field} must be a positive integer"
            ))),
        },
        Some(_) => Err(Error::invalid(format!("{path}.{field} must be a number"))),
    }
}

fn object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>> {
    value
        .as_object()
        .ok_or_else(|| Error::invalid(format!("{path} must be an object")))
}

fn refuse_unknown(map: &Map<String, Value>, known: &[&str], path: &str) -> Result<()> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(key) => Err(Error::invalid(format!(
            "{path}: unknown field {key:?} (known: {})",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

impl CredentialPolicy {
    /// Parses a whole policy object.
    pub(crate) fn parse(value: &Value) -> Result<CredentialPolicy> {
        let mut policy = CredentialPolicy::default();
        policy.merge(value)?;
        Ok(policy)
    }

    /// Merges the fields present in `value` (a PATCH); `null` clears a field.
    pub(crate) fn merge(&mut self, value: &Value) -> Result<()> {
        let map = object(value, "policy")?;
        refuse_unknown(
            map,
            &[
                "defaultLeaseTTL",
                "maxLeaseTTL",
                "maxLeases",
                "allowedIdentities",
                "rotation",
                "database",
            ],
            "policy",
        )?;
        let mut next = self.clone();
        if map.contains_key("defaultLeaseTTL") {
            next.default_lease_ttl = duration_field(map, "defaultLeaseTTL", "policy")?;
        }
        if map.contains_key("maxLeaseTTL") {
            next.max_lease_ttl = duration_field(map, "maxLeaseTTL", "policy")?;
        }
        if map.contains_key("maxLeases") {
            next.max_leases = count_field(map, "maxLeases", "policy")?;
        }
        match map.get("allowedIdentities") {
            None => {}
            Some(Value::Null) => next.allowed_identities = None,
            Some(Value::Array(items)) => {
                next.allowed_identities = Some(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| {
                            IdentityPattern::parse(item, &format!("policy.allowedIdentities[{i}]"))
                        })
                        .collect::<Result<_>>()?,
                );
            }
            Some(_) => {
                return Err(Error::invalid(
                    "policy.allowedIdentities must be an array of {\"type\", \"name\"} or \"type:name\" patterns",
                ));
            }
        }
        match map.get("rotation") {
            None => {}
            Some(Value::Null) => next.rotation = None,
            Some(value) => next.rotation = Some(parse_rotation(value)?),
        }
        match map.get("database") {
            None => {}
            Some(Value::Null) => next.database = None,
            Some(value) => next.database = Some(parse_database(value)?),
        }
        if let (Some(default), Some(max)) = (next.default_lease_ttl, next.max_lease_ttl)
            && default > max
        {
            return Err(Error::invalid(
                "policy.defaultLeaseTTL is longer than policy.maxLeaseTTL",
            ));
        }
        *self = next;
        Ok(())
    }

    /// The wire form (durations as Go-style strings, as given units are not kept).
    pub(crate) fn to_json(&self) -> Value {
        let mut out = Map::new();
        if let Some(v) = self.default_lease_ttl {
            out.insert("defaultLeaseTTL".into(), json!(human(v)));
        }
        if let Some(v) = self.max_lease_ttl {
            out.insert("maxLeaseTTL".into(), json!(human(v)));
        }
        if let Some(v) = self.max_leases {
            out.insert("maxLeases".into(), json!(v));
        }
        if let Some(patterns) = &self.allowed_identities {
            out.insert("allowedIdentities".into(), json!(patterns));
        }
        if let Some(r) = &self.rotation {
            out.insert(
                "rotation".into(),
                json!({
                    "enabled": r.enabled,
                    "period": human(r.period_secs),
                    "notifyBefore": human(r.notify_before_secs),
                }),
            );
        }
        if let Some(d) = &self.database {
            out.insert(
                "database".into(),
                json!({
                    "mount": d.mount,
                    "config": d.config,
                    "creationStatements": d.creation_statements,
                    "revocationStatements": d.revocation_statements,
                }),
            );
        }
        Value::Object(out)
    }

    /// Whether `identity` may hold a lease (no list: anyone the ACL lets through).
    pub(crate) fn allows(&self, identity: &Identity) -> bool {
        match &self.allowed_identities {
            None => true,
            Some(patterns) => patterns.iter().any(|p| p.matches(identity)),
        }
    }
}

fn parse_rotation(value: &Value) -> Result<Rotation> {
    let map = object(value, "policy.rotation")?;
    refuse_unknown(
        map,
        &["enabled", "period", "notifyBefore"],
        "policy.rotation",
    )?;
    let enabled = match map.get("enabled") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(Error::invalid("policy.rotation.enabled must be a boolean"));
        }
    };
    let period = duration_field(map, "period", "policy.rotation")?
        .ok_or_else(|| Error::invalid("policy.rotation.period is required, e.g. \"90d\""))?;
    let notify = duration_field(map, "notifyBefore", "policy.rotation")?.unwrap_or(0);
    if notify >= period {
        return Err(Error::invalid(
            "policy.rotation.notifyBefore must be shorter than policy.rotation.period",
        ));
    }
    Ok(Rotation {
        enabled,
        period_secs: period,
        notify_before_secs: notify,
    })
}

/// Seconds as the shortest exact text: `90d`, `36h`, `30m`, `45s`.
pub(crate) fn human(secs: u64) -> String {
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs > 0 && secs.is_multiple_of(size) {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

/// The tenant defaults at `credentials/config`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TenantDefaults {
    pub(crate) default_lease_ttl: Option<u64>,
    pub(crate) max_lease_ttl: Option<u64>,
    pub(crate) max_leases: Option<u64>,
}

impl TenantDefaults {
    /// Merges the fields present in `data`; `null` clears one.
    pub(crate) fn merge(&mut self, data: &Map<String, Value>) -> Result<()> {
        refuse_unknown(
            data,
            &["defaultLeaseTTL", "maxLeaseTTL", "maxLeases"],
            "config",
        )?;
        let mut next = self.clone();
        if data.contains_key("defaultLeaseTTL") {
            next.default_lease_ttl = duration_field(data, "defaultLeaseTTL", "config")?;
        }
        if data.contains_key("maxLeaseTTL") {
            next.max_lease_ttl = duration_field(data, "maxLeaseTTL", "config")?;
        }
        if data.contains_key("maxLeases") {
            next.max_leases = count_field(data, "maxLeases", "config")?;
        }
        if let (Some(default), Some(max)) = (next.default_lease_ttl, next.max_lease_ttl)
            && default > max
        {
            return Err(Error::invalid(
                "config.defaultLeaseTTL is longer than config.maxLeaseTTL",
            ));
        }
        *self = next;
        Ok(())
    }

    /// The wire form, with the built-in values filled in.
    pub(crate) fn to_json(&self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert(
            "defaultLeaseTTL".into(),
            json!(human(
                self.default_lease_ttl
                    .unwrap_or(BUILTIN_DEFAULT_TTL.as_secs())
            )),
        );
        out.insert(
            "maxLeaseTTL".into(),
            json!(human(
                self.max_lease_ttl.unwrap_or(BUILTIN_MAX_TTL.as_secs())
            )),
        );
        out.insert(
            "maxLeases".into(),
            self.max_leases.map_or(Value::Null, Value::from),
        );
        out
    }
}

/// The lease TTL decision: what was asked, what was granted, and why it was capped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TtlDecision {
    pub(crate) ttl: u64,
    pub(crate) max: u64,
    pub(crate) warning: Option<String>,
}

/// TTL precedence: request → credential `defaultLeaseTTL` → tenant default → built-in; capped
/// (not refused) at the lower of the credential's and the tenant's `maxLeaseTTL` (and the
/// mount's max TTL when set), with a warning.
pub(crate) fn lease_ttl(
    requested: Option<u64>,
    credential: &CredentialPolicy,
    tenant: &TenantDefaults,
    mount_max: u64,
) -> TtlDecision {
    let max = [
        credential.max_lease_ttl,
        tenant.max_lease_ttl,
        (mount_max > 0).then_some(mount_max),
    ]
    .into_iter()
    .flatten()
    .min()
    .unwrap_or(BUILTIN_MAX_TTL.as_secs());
    let wanted = requested
        .or(credential.default_lease_ttl)
        .or(tenant.default_lease_ttl)
        .unwrap_or(BUILTIN_DEFAULT_TTL.as_secs());
    if wanted > max {
        TtlDecision {
            ttl: max,
            max,
            warning: Some(format!(
                "requested TTL {} is longer than the maximum lease TTL {}; the lease was capped to {}",
                human(wanted),
                human(max),
                human(max)
            )),
        }
    } else {
        TtlDecision {
            ttl: wanted,
            max,
            warning: None,
        }
    }
}

/// The lease cap: the credential's `maxLeases`, else the tenant's.
pub(crate) fn max_leases(credential: &CredentialPolicy, tenant: &TenantDefaults) -> Option<u64> {
    credential.max_leases.or(tenant.max_leases)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(kind: &str, name: &str) -> Identity {
        Identity {
            kind: kind.into(),
            name: name.into(),
        }
    }

    #[test]
    fn globs() {
        for (pattern, text, expect) in [
            ("deploy-*", "deploy-prod", true),
            ("deploy-*", "deploy-", true),
            ("deploy-*", "build-prod", false),
            ("*", "anything", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxcyyb", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("*-bot", "ci-bot", true),
        ] {
            assert_eq!(glob(pattern, text), expect, "{pattern} vs {text}");
        }
    }

    #[test]
    fn allowed_identities_accept_objects_and_strings() {
        let policy = CredentialPolicy::parse(&json!({
            "allowedIdentities": [{"type": "agent", "name": "deploy-*"}, "user:alice"]
        }))
        .unwrap();
        assert!(policy.allows(&id("agent", "deploy-eu")));
        assert!(policy.allows(&id("user", "alice")));
        assert!(!policy.allows(&id("user", "bob")));
        assert!(!policy.allows(&id("user", "deploy-eu")));
        assert!(CredentialPolicy::default().allows(&id("user", "bob")));
    }

    #[test]
    fn bad_policies_name_the_field() {
        for (policy, needle) in [
            (json!({"maxLeaseTTL": 5.5e300}), "policy.maxLeaseTTL"),
            (json!({"maxLeaseTTL": "1x"}), "policy.maxLeaseTTL"),
            (json!({"maxLeaseTTL": true}), "policy.maxLeaseTTL"),
            (json!({"maxLeases": "5"}), "policy.maxLeases"),
            (json!({"maxLeases": 0}), "policy.maxLeases"),
            (json!({"maxLeases": -1}), "policy.maxLeases"),
            (json!({"allowedIdentities": "agent:x"}), "allowedIdentities"),
            (
                json!({"allowedIdentities": ["agentx"]}),
                "allowedIdentities[0]",
            ),
            (
                json!({"defaultLeaseTTL": "2h", "maxLeaseTTL": "1h"}),
                "defaultLeaseTTL",
            ),
            (json!({"maxLeaseTtl": "1h"}), "maxLeaseTtl"),
            (
                json!({"rotation": {"period": "7d", "notifyBefore": "8d"}}),
                "notifyBefore",
            ),
            (json!({"rotation": {"notifyBefore": "1d"}}), "period"),
            (json!("24h"), "policy must be an object"),
        ] {
            let error = CredentialPolicy::parse(&policy).unwrap_err().to_string();
            assert!(error.contains(needle), "{policy}: {error}");
        }
    }

    #[test]
    fn ttl_precedence_and_capping() {
        let credential = CredentialPolicy::parse(&json!({
            "defaultLeaseTTL": "30m", "maxLeaseTTL": "4h"
        }))
        .unwrap();
        let tenant = TenantDefaults {
            default_lease_ttl: Some(7200),
            max_lease_ttl: Some(3 * 3600),
            max_leases: None,
        };
        // The request wins, capped at the lower max (tenant 3h < credential 4h).
        let d = lease_ttl(Some(600), &credential, &tenant, 0);
        assert_eq!((d.ttl, d.warning.is_none()), (600, true));
        let d = lease_ttl(Some(5 * 3600), &credential, &tenant, 0);
        assert_eq!(d.ttl, 3 * 3600);
        assert!(d.warning.unwrap().contains("capped to 3h"));
        // Credential default, then tenant default, then built-in.
        assert_eq!(lease_ttl(None, &credential, &tenant, 0).ttl, 1800);
        assert_eq!(
            lease_ttl(None, &CredentialPolicy::default(), &tenant, 0).ttl,
            7200
        );
        let none = TenantDefaults::default();
        assert_eq!(
            lease_ttl(None, &CredentialPolicy::default(), &none, 0).ttl,
            3600
        );
        // The mount's max TTL also caps.
        assert_eq!(lease_ttl(Some(4000), &credential, &tenant, 60).ttl, 60);
    }

    #[test]
    fn database_reference_is_parsed_strictly() {
        let policy = CredentialPolicy::parse(&json!({"database": {
            "config": "pg", "creationStatements": ["CREATE ROLE \"{{name}}\""]
        }}))
        .unwrap();
        let database = policy.database.clone().unwrap();
        assert_eq!(
            (database.mount.as_str(), database.config.as_str()),
            ("database/", "pg")
        );
        assert_eq!(policy.to_json()["database"]["mount"], json!("database/"));
        for (bad, needle) in [
            (
                json!({"database": {"creationStatements": ["x"]}}),
                "policy.database.config",
            ),
            (json!({"database": {"config": "pg"}}), "creationStatements"),
            (
                json!({"database": {"config": "pg", "creationStatements": ["x"], "user": "a"}}),
                "\"user\"",
            ),
            (
                json!({"database": "pg"}),
                "policy.database must be an object",
            ),
        ] {
            let error = CredentialPolicy::parse(&bad).unwrap_err().to_string();
            assert!(error.contains(needle), "{bad}: {error}");
        }
    }

    #[test]
    fn durations_print_in_their_largest_unit() {
        assert_eq!(human(90 * 86_400), "90d");
        assert_eq!(human(1800), "30m");
        assert_eq!(human(3600 * 36), "36h");
        assert_eq!(human(61), "61s");
    }
}
