//! `coffer access apply|show`: the secrets guide's role-based access file, compiled into ACL
//! policies. The file maps secret globs (relative to a KV v2 mount) to actions and the identity
//! groups allowed to perform them:
//!
//! ```json
//! {"secrets": {"production/*": {"read": ["engineers", "devops"], "write": ["devops"],
//!                               "delete": ["admins"]}}}
//! ```
//!
//! Each group gets one policy named `access-<group>` (lowercased), attached to the identity
//! group of that name. `read` grants `read` on `<mount>/data/<glob>` and `read`+`list` on
//! `<mount>/metadata/<glob>`; `write` grants `create`+`update`+`patch` on the data path;
//! `delete` grants `delete` on the data path and the metadata path and `update` on
//! `<mount>/delete/<glob>`. The whole file is validated before anything is written; applying
//! is idempotent, and groups no longer named lose their `access-*` policy. Applying is not one
//! transaction: after a failure part way, applying again finishes the job.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Context;
use coffer_client::Client;
use coffer_policy::{Capabilities, Capability, Policy};
use serde_json::{Map, Value, json};

use super::Outcome;
use super::generic::secret_of;
use super::policy::{capabilities_text, delete_policy, get_policy, policy_names, put_policy};
use crate::cli::AccessCommand;
use crate::output::{self, Format};

/// The prefix of every policy `coffer access` manages.
const POLICY_PREFIX: &str = "access-";

/// Runs one `coffer access …` command.
pub(crate) async fn run(
    client: &Client,
    format: Format,
    command: AccessCommand,
) -> anyhow::Result<Outcome> {
    match command {
        AccessCommand::Apply { file, mount } => apply(client, format, &file, &mount).await,
        AccessCommand::Show { mount } => show(client, format, &mount).await,
    }
}

/// What a group may do to the secrets matching a glob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Read,
    Write,
    Delete,
}

impl Action {
    fn parse(name: &str) -> Option<Action> {
        match name {
            "read" => Some(Action::Read),
            "write" => Some(Action::Write),
            "delete" => Some(Action::Delete),
            _ => None,
        }
    }

    /// The API paths and capabilities this action needs on a KV v2 mount.
    fn grants(self, mount: &str, glob: &str) -> Vec<(String, Capabilities)> {
        let caps = |list: &[Capability]| list.iter().copied().collect::<Capabilities>();
        let data = format!("{mount}/data/{glob}");
        let metadata = format!("{mount}/metadata/{glob}");
        match self {
            Action::Read => vec![
                (data, caps(&[Capability::Read])),
                (metadata, caps(&[Capability::Read, Capability::List])),
            ],
            Action::Write => vec![(
                data,
                caps(&[Capability::Create, Capability::Update, Capability::Patch]),
            )],
            Action::Delete => vec![
                (data, caps(&[Capability::Delete])),
                (
                    format!("{mount}/delete/{glob}"),
                    caps(&[Capability::Update]),
                ),
                (metadata, caps(&[Capability::Delete])),
            ],
        }
    }
}

/// One group's compiled policy.
#[derive(Debug, Clone, PartialEq, Eq)]
struct GroupPolicy {
    /// The identity group, as written in the file.
    group: String,
    /// `access-<group>`, lowercased like every policy name.
    policy: String,
    /// The rules, sorted by path.
    rules: Vec<(String, Capabilities)>,
    /// The policy text (canonical HCL).
    text: String,
}

/// A KV mount path as typed (`secret`, `/secret/`) without its slashes; never empty.
fn mount_name(text: &str) -> anyhow::Result<&str> {
    let mount = text.trim().trim_matches('/');
    if mount.is_empty() {
        anyhow::bail!("-mount must name a KV v2 mount, e.g. secret");
    }
    Ok(mount)
}

/// Checks a group name: letters, digits, `-`, `_`, `.` and `@`, so it is safe both as a
/// policy name suffix and as the last segment of `identity/group/name/<group>`.
fn check_group(glob: &str, action: &str, group: &str) -> anyhow::Result<()> {
    let valid = !group.is_empty()
        && group
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if !valid {
        anyhow::bail!(
            "secrets {glob:?}: {action}: invalid group name {group:?} (use letters, digits, \
             '-', '_', '.' or '@')"
        );
    }
    Ok(())
}

/// Parses and compiles an access file into one policy per group, sorted by group. Every
/// problem is found here, before anything is written.
fn compile(text: &str, mount: &str) -> anyhow::Result<Vec<GroupPolicy>> {
    let document: Value = serde_json::from_str(text).context("the access file is not JSON")?;
    let Value::Object(document) = document else {
        anyhow::bail!("the access file must be a JSON object with a \"secrets\" key");
    };
    if let Some(unknown) = document.keys().find(|key| *key != "secrets") {
        anyhow::bail!("unknown key {unknown:?} in the access file (only \"secrets\")");
    }
    let secrets = match document.get("secrets") {
        Some(Value::Object(secrets)) => secrets,
        Some(_) => anyhow::bail!("\"secrets\" must map secret paths to actions"),
        None => anyhow::bail!("the access file has no \"secrets\" key"),
    };
    let mut by_group: BTreeMap<String, BTreeMap<String, Capabilities>> = BTreeMap::new();
    for (raw_glob, actions) in secrets {
        let glob = raw_glob.trim().trim_start_matches('/');
        if glob.is_empty() {
            anyhow::bail!("secrets {raw_glob:?}: the path is empty");
        }
        if glob.find('*').is_some_and(|at| at + 1 != glob.len()) {
            anyhow::bail!("secrets {raw_glob:?}: '*' is allowed only at the end of a path");
        }
        let Value::Object(actions) = actions else {
            anyhow::bail!("secrets {raw_glob:?}: must map actions (read, write, delete) to groups");
        };
        for (name, groups) in actions {
            let action = Action::parse(name).with_context(|| {
                format!("secrets {raw_glob:?}: unknown action {name:?} (use read, write or delete)")
            })?;
            let Value::Array(groups) = groups else {
                anyhow::bail!("secrets {raw_glob:?}: {name} must be a list of group names");
            };
            for group in groups {
                let Value::String(group) = group else {
                    anyhow::bail!("secrets {raw_glob:?}: {name} must be a list of group names");
                };
                check_group(raw_glob, name, group)?;
                let rules = by_group.entry(group.clone()).or_default();
                for (path, capabilities) in action.grants(mount, glob) {
                    let entry = rules.entry(path).or_insert(Capabilities::EMPTY);
                    *entry = entry.union(capabilities);
                }
            }
        }
    }
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut compiled = Vec::new();
    for (group, rules) in by_group {
        let policy = format!("{POLICY_PREFIX}{}", group.to_lowercase());
        if let Some(other) = seen.insert(policy.clone(), group.clone()) {
            anyhow::bail!("groups {other:?} and {group:?} would share the policy {policy}");
        }
        let rules: Vec<(String, Capabilities)> = rules.into_iter().collect();
        let text = capabilities_text(&rules);
        Policy::parse(&policy, &text)
            .with_context(|| format!("the policy compiled for group {group:?} is invalid"))?;
        compiled.push(GroupPolicy {
            group,
            policy,
            rules,
            text,
        });
    }
    Ok(compiled)
}

/// What `apply` did to one group's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Created,
    Updated,
    Unchanged,
    Removed,
}

impl Change {
    fn as_str(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Updated => "updated",
            Change::Unchanged => "unchanged",
            Change::Removed => "removed",
        }
    }
}

/// Makes sure `KV v2` is mounted at `mount`, so the compiled paths mean something.
async fn check_mount(client: &Client, mount: &str) -> anyhow::Result<()> {
    let reply = client
        .raw("GET", &format!("sys/internal/ui/mounts/{mount}"), None)
        .await
        .with_context(|| format!("finding the mount {mount}/"))?;
    let data = secret_of(reply)?.and_then(|secret| secret.data);
    let Some(data) = data else {
        anyhow::bail!("no secrets engine is mounted at {mount}/");
    };
    let path = data.get("path").and_then(Value::as_str).unwrap_or_default();
    let version = data
        .get("options")
        .and_then(|options| options.get("version"));
    let v2 = matches!(version, Some(Value::String(v)) if v == "2")
        || version.and_then(Value::as_u64) == Some(2);
    if path != format!("{mount}/") || !v2 {
        anyhow::bail!("{mount}/ is not a KV v2 mount");
    }
    Ok(())
}

/// The policies of an identity group, or `None` when there is no such group.
async fn group_policies(client: &Client, group: &str) -> anyhow::Result<Option<Vec<String>>> {
    let reply = client
        .raw("GET", &format!("identity/group/name/{group}"), None)
        .await
        .with_context(|| format!("reading identity group {group}"))?;
    let Some(data) = secret_of(reply)?.and_then(|secret| secret.data) else {
        return Ok(None);
    };
    Ok(Some(strings(data.get("policies"))))
}

/// The strings of a JSON list (anything else is empty).
fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Sets an identity group's policies, creating the group if needed; its members and metadata
/// are kept.
async fn set_group_policies(
    client: &Client,
    group: &str,
    policies: &[String],
) -> anyhow::Result<()> {
    client
        .raw(
            "POST",
            &format!("identity/group/name/{group}"),
            Some(&json!({ "policies": policies })),
        )
        .await
        .with_context(|| format!("updating identity group {group}"))?;
    Ok(())
}

/// Every identity group name.
async fn group_names(client: &Client) -> anyhow::Result<Vec<String>> {
    let reply = client
        .raw("GET", "identity/group/name?list=true", None)
        .await
        .context("listing identity groups")?;
    let data = secret_of(reply)?.and_then(|secret| secret.data);
    Ok(strings(data.as_ref().and_then(|data| data.get("keys"))))
}

/// `coffer access apply FILE [-mount=secret]`.
async fn apply(
    client: &Client,
    format: Format,
    file: &Path,
    mount: &str,
) -> anyhow::Result<Outcome> {
    let mount = mount_name(mount)?;
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading access file {}", file.display()))?;
    let compiled =
        compile(&text, mount).with_context(|| format!("{} is invalid", file.display()))?;
    check_mount(client, mount).await?;

    let mut report: Vec<(String, String, Vec<String>, Change)> = Vec::new();
    for group in &compiled {
        let current = get_policy(client, &group.policy).await?;
        let current_text = current
            .as_ref()
            .and_then(|data| data.get("policy"))
            .and_then(Value::as_str);
        let change = match current_text {
            Some(text) if text == group.text => Change::Unchanged,
            Some(_) => Change::Updated,
            None => Change::Created,
        };
        if change != Change::Unchanged {
            put_policy(client, &group.policy, &group.text).await?;
        }
        let policies = group_policies(client, &group.group).await?;
        match policies {
            Some(policies) if policies.contains(&group.policy) => {}
            Some(mut policies) => {
                policies.push(group.policy.clone());
                set_group_policies(client, &group.group, &policies).await?;
            }
            None => {
                set_group_policies(client, &group.group, std::slice::from_ref(&group.policy))
                    .await?
            }
        }
        let paths = group.rules.iter().map(|(path, _)| path.clone()).collect();
        report.push((group.group.clone(), group.policy.clone(), paths, change));
    }

    let wanted: BTreeSet<&str> = compiled.iter().map(|g| g.policy.as_str()).collect();
    let stale: Vec<String> = policy_names(client)
        .await?
        .into_iter()
        .filter(|name| name.starts_with(POLICY_PREFIX) && !wanted.contains(name.as_str()))
        .collect();
    if !stale.is_empty() {
        for group in group_names(client).await? {
            let Some(policies) = group_policies(client, &group).await? else {
                continue;
            };
            let kept: Vec<String> = policies
                .iter()
                .filter(|policy| !stale.contains(policy))
                .cloned()
                .collect();
            if kept.len() != policies.len() {
                set_group_policies(client, &group, &kept).await?;
            }
        }
        for policy in &stale {
            delete_policy(client, policy).await?;
            let group = policy.strip_prefix(POLICY_PREFIX).unwrap_or(policy);
            report.push((
                group.to_owned(),
                policy.clone(),
                Vec::new(),
                Change::Removed,
            ));
        }
    }
    print_report(format, &report);
    Ok(Outcome::Success)
}

/// The summary of `apply`: one row per group.
fn print_report(format: Format, report: &[(String, String, Vec<String>, Change)]) {
    match format {
        Format::Table => {
            let rows: Vec<Vec<String>> = report
                .iter()
                .map(|(group, policy, paths, change)| {
                    vec![
                        group.clone(),
                        policy.clone(),
                        paths.join(", "),
                        change.as_str().to_owned(),
                    ]
                })
                .collect();
            output::column_table(&["Group", "Policy", "Paths", "Status"], &rows);
        }
        Format::Json | Format::Yaml => {
            let items: Vec<Value> = report
                .iter()
                .map(|(group, policy, paths, change)| {
                    json!({"group": group, "policy": policy, "paths": paths,
                           "status": change.as_str()})
                })
                .collect();
            output::encoded(format, &Value::Array(items));
        }
    }
}

/// One row of `access show`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ShownRule {
    path: String,
    group: String,
    policy: String,
    capabilities: Vec<&'static str>,
}

/// The rules of one `access-*` policy under `<mount>/`.
fn shown_rules(policy: &Policy, mount: &str) -> Vec<ShownRule> {
    let name = policy.name().as_str();
    let group = name.strip_prefix(POLICY_PREFIX).unwrap_or(name);
    let prefix = format!("{mount}/");
    policy
        .rules()
        .iter()
        .filter(|rule| rule.path().starts_with(&prefix))
        .map(|rule| ShownRule {
            path: rule.path().to_owned(),
            group: group.to_owned(),
            policy: name.to_owned(),
            capabilities: rule.capabilities().names(),
        })
        .collect()
}

/// `coffer access show [-mount=secret]`: the rules of every `access-*` policy, read back from
/// the server, as `Path  Group  Capabilities` rows sorted by path.
async fn show(client: &Client, format: Format, mount: &str) -> anyhow::Result<Outcome> {
    let mount = mount_name(mount)?;
    let mut rows = Vec::new();
    for name in policy_names(client).await? {
        if !name.starts_with(POLICY_PREFIX) {
            continue;
        }
        let Some(data) = get_policy(client, &name).await? else {
            continue;
        };
        let text = data.get("policy").and_then(Value::as_str).unwrap_or("");
        let policy = Policy::parse(&name, text)
            .with_context(|| format!("the server's policy {name} does not parse"))?;
        rows.extend(shown_rules(&policy, mount));
    }
    rows.sort();
    match format {
        Format::Table if rows.is_empty() => {
            output::line(&format!("No access rules found under {mount}/"));
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = rows
                .into_iter()
                .map(|row| vec![row.path, row.group, row.capabilities.join(", ")])
                .collect();
            output::column_table(&["Path", "Group", "Capabilities"], &rows);
        }
        Format::Json | Format::Yaml => {
            let items: Vec<Value> = rows
                .into_iter()
                .map(|row| {
                    let mut item = Map::new();
                    item.insert("path".into(), json!(row.path));
                    item.insert("group".into(), json!(row.group));
                    item.insert("policy".into(), json!(row.policy));
                    item.insert("capabilities".into(), json!(row.capabilities));
                    Value::Object(item)
                })
                .collect();
            output::encoded(format, &Value::Array(items));
        }
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"{"secrets": {"production/*": {"read": ["engineers", "devops"],
        "write": ["devops"], "delete": ["admins"]}}}"#;

    /// `check(file, mount, expected "group policy: path [caps]; …" lines)`.
    fn check(file: &str, mount: &str, expected: &[&str]) {
        let compiled = compile(file, mount).unwrap_or_else(|e| panic!("{file}: {e:#}"));
        let got: Vec<String> = compiled
            .iter()
            .map(|group| {
                let rules: Vec<String> = group
                    .rules
                    .iter()
                    .map(|(path, caps)| format!("{path} {}", caps.names().join(",")))
                    .collect();
                format!("{} {}: {}", group.group, group.policy, rules.join("; "))
            })
            .collect();
        assert_eq!(got, expected, "{file}");
    }

    fn check_error(file: &str, expected: &str) {
        match compile(file, "secret") {
            Ok(compiled) => panic!("{file} compiled to {compiled:?}"),
            Err(error) => assert_eq!(format!("{error:#}"), expected, "{file}"),
        }
    }

    #[test]
    fn seed_example() {
        check(
            SEED,
            "secret",
            &[
                "admins access-admins: secret/data/production/* delete; \
                 secret/delete/production/* update; secret/metadata/production/* delete",
                "devops access-devops: secret/data/production/* create,patch,read,update; \
                 secret/metadata/production/* list,read",
                "engineers access-engineers: secret/data/production/* read; \
                 secret/metadata/production/* list,read",
            ],
        );
    }

    #[test]
    fn globs_mounts_and_merges() {
        check(
            r#"{"secrets": {"/app/db": {"read": ["ops"]}, "app/*": {"delete": ["ops"]}}}"#,
            "kv",
            &[
                "ops access-ops: kv/data/app/* delete; kv/data/app/db read; \
               kv/delete/app/* update; kv/metadata/app/* delete; kv/metadata/app/db list,read",
            ],
        );
        check(
            r#"{"secrets": {"x": {"read": ["Dev"], "write": []}}}"#,
            "secret",
            &["Dev access-dev: secret/data/x read; secret/metadata/x list,read"],
        );
        check(r#"{"secrets": {}}"#, "secret", &[]);
    }

    #[test]
    fn compiled_text_is_a_valid_canonical_policy() {
        let compiled = compile(SEED, "secret").unwrap_or_else(|e| panic!("{e:#}"));
        let engineers = compiled
            .iter()
            .find(|group| group.group == "engineers")
            .map(|group| group.text.as_str());
        assert_eq!(
            engineers,
            Some(
                "path \"secret/data/production/*\" {\n  capabilities = [\"read\"]\n}\n\n\
                 path \"secret/metadata/production/*\" {\n  capabilities = [\"list\", \"read\"]\n}\n"
            )
        );
    }

    #[test]
    fn invalid_files() {
        check_error(
            "not json",
            "the access file is not JSON: expected ident at line 1 column 2",
        );
        check_error(
            "[]",
            "the access file must be a JSON object with a \"secrets\" key",
        );
        check_error("{}", "the access file has no \"secrets\" key");
        check_error(
            r#"{"secrets": {}, "roles": {}}"#,
            "unknown key \"roles\" in the access file (only \"secrets\")",
        );
        check_error(
            r#"{"secrets": ["a"]}"#,
            "\"secrets\" must map secret paths to actions",
        );
        check_error(
            r#"{"secrets": {"": {"read": ["a"]}}}"#,
            "secrets \"\": the path is empty",
        );
        check_error(
            r#"{"secrets": {" / ": {"read": ["a"]}}}"#,
            "secrets \" / \": the path is empty",
        );
        check_error(
            r#"{"secrets": {"a/*/b": {"read": ["a"]}}}"#,
            "secrets \"a/*/b\": '*' is allowed only at the end of a path",
        );
        check_error(
            r#"{"secrets": {"a": ["read"]}}"#,
            "secrets \"a\": must map actions (read, write, delete) to groups",
        );
        check_error(
            r#"{"secrets": {"a": {"list": ["g"]}}}"#,
            "secrets \"a\": unknown action \"list\" (use read, write or delete)",
        );
        check_error(
            r#"{"secrets": {"a": {"read": "g"}}}"#,
            "secrets \"a\": read must be a list of group names",
        );
        check_error(
            r#"{"secrets": {"a": {"read": [1]}}}"#,
            "secrets \"a\": read must be a list of group names",
        );
        check_error(
            r#"{"secrets": {"a": {"read": ["a/b"]}}}"#,
            "secrets \"a\": read: invalid group name \"a/b\" (use letters, digits, '-', '_', '.' \
             or '@')",
        );
        check_error(
            r#"{"secrets": {"a": {"read": [""]}}}"#,
            "secrets \"a\": read: invalid group name \"\" (use letters, digits, '-', '_', '.' or \
             '@')",
        );
        check_error(
            r#"{"secrets": {"a": {"read": ["Ops", "ops"]}}}"#,
            "groups \"Ops\" and \"ops\" would share the policy access-ops",
        );
    }

    #[test]
    fn mounts_are_trimmed_and_required() {
        assert_eq!(mount_name("/kv/").ok(), Some("kv"));
        assert!(mount_name(" / ").is_err());
    }

    #[test]
    fn shown_rules_are_filtered_by_mount() {
        let text = capabilities_text(&[
            (
                "secret/data/a".to_owned(),
                [Capability::Read].into_iter().collect(),
            ),
            (
                "kv/data/a".to_owned(),
                [Capability::Read].into_iter().collect(),
            ),
        ]);
        let policy = Policy::parse("access-ops", &text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            shown_rules(&policy, "secret"),
            vec![ShownRule {
                path: "secret/data/a".into(),
                group: "ops".into(),
                policy: "access-ops".into(),
                capabilities: vec!["read"],
            }]
        );
    }
}
