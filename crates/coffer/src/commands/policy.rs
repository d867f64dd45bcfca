//! `coffer policy write|read|list|delete|fmt`: ACL policies through `sys/policies/acl`, with
//! the requests and output of Vault's `policy` commands, and the canonical HCL form that
//! `policy fmt` (and `coffer access`) write: one `path` block per rule, capabilities sorted,
//! a blank line between blocks.

use std::io::Read as _;
use std::path::Path;

use anyhow::Context;
use coffer_client::Client;
use coffer_policy::{Capabilities, ParameterValues, Policy, Rule};
use serde_json::{Map, Value, json};

use super::Outcome;
use super::generic::{failure, secret_of};
use crate::cli::PolicyCommand;
use crate::output::{self, Format};

/// Runs one `coffer policy …` command.
pub(crate) async fn run(
    client: &Client,
    format: Format,
    command: PolicyCommand,
) -> anyhow::Result<Outcome> {
    match command {
        PolicyCommand::Write { name, file } => write(client, &name, &file).await,
        PolicyCommand::Read { name } => read(client, format, &name).await,
        PolicyCommand::List => list(client, format).await,
        PolicyCommand::Delete { name } => delete(client, &name).await,
        PolicyCommand::Fmt { file } => fmt(&file),
    }
}

/// A policy name as typed, without surrounding spaces; never empty.
fn policy_name(text: &str) -> anyhow::Result<&str> {
    let name = text.trim();
    if name.is_empty() {
        anyhow::bail!("a policy name is required");
    }
    Ok(name)
}

/// `coffer policy write NAME FILE|-`: `PUT sys/policies/acl/NAME {"policy": <text>}`. The
/// server checks the text.
async fn write(client: &Client, name: &str, file: &str) -> anyhow::Result<Outcome> {
    let name = policy_name(name)?;
    let text = if file == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the policy from stdin")?;
        text
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading policy file {file}"))?
    };
    put_policy(client, name, &text).await?;
    output::line(&format!("Success! Uploaded policy: {name}"));
    Ok(Outcome::Success)
}

/// `PUT sys/policies/acl/<name> {"policy": <text>}`.
pub(crate) async fn put_policy(client: &Client, name: &str, text: &str) -> anyhow::Result<()> {
    client
        .raw(
            "PUT",
            &format!("sys/policies/acl/{name}"),
            Some(&json!({ "policy": text })),
        )
        .await
        .with_context(|| format!("uploading policy {name}"))?;
    Ok(())
}

/// `GET sys/policies/acl/<name>`: the policy's data (`name`, `policy`, …), `None` if missing.
pub(crate) async fn get_policy(
    client: &Client,
    name: &str,
) -> anyhow::Result<Option<Map<String, Value>>> {
    let reply = client
        .raw("GET", &format!("sys/policies/acl/{name}"), None)
        .await
        .with_context(|| format!("reading policy {name}"))?;
    Ok(secret_of(reply)?.and_then(|secret| secret.data))
}

/// `LIST sys/policies/acl`: every policy name.
pub(crate) async fn policy_names(client: &Client) -> anyhow::Result<Vec<String>> {
    let reply = client
        .raw("GET", "sys/policies/acl?list=true", None)
        .await
        .context("listing policies")?;
    let data = secret_of(reply)?.and_then(|secret| secret.data);
    let names = data
        .as_ref()
        .and_then(|data| data.get("keys"))
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(names)
}

/// `coffer policy read NAME`: the text as written, or the data in JSON/YAML.
async fn read(client: &Client, format: Format, name: &str) -> anyhow::Result<Outcome> {
    let name = policy_name(name)?;
    let Some(data) = get_policy(client, name).await? else {
        return failure(&format!("No policy named: {name}"));
    };
    match format {
        Format::Table => {
            let text = data.get("policy").and_then(Value::as_str).unwrap_or("");
            output::line(text.trim_end_matches('\n'));
        }
        Format::Json | Format::Yaml => output::encoded(format, &Value::Object(data)),
    }
    Ok(Outcome::Success)
}

/// `coffer policy list`: one name per line, or a JSON array.
async fn list(client: &Client, format: Format) -> anyhow::Result<Outcome> {
    let names = policy_names(client).await?;
    match format {
        Format::Table => {
            for name in &names {
                output::line(name);
            }
        }
        Format::Json | Format::Yaml => output::encoded(format, &json!(names)),
    }
    Ok(Outcome::Success)
}

/// `coffer policy delete NAME`.
async fn delete(client: &Client, name: &str) -> anyhow::Result<Outcome> {
    let name = policy_name(name)?;
    delete_policy(client, name).await?;
    output::line(&format!("Success! Deleted policy: {name}"));
    Ok(Outcome::Success)
}

/// `DELETE sys/policies/acl/<name>` (succeeds when it does not exist).
pub(crate) async fn delete_policy(client: &Client, name: &str) -> anyhow::Result<()> {
    client
        .raw("DELETE", &format!("sys/policies/acl/{name}"), None)
        .await
        .with_context(|| format!("deleting policy {name}"))?;
    Ok(())
}

/// `coffer policy fmt FILE`: parses the file locally and replaces it with the canonical form.
/// An invalid policy is reported and the file is left as it was; the replacement is atomic.
fn fmt(file: &Path) -> anyhow::Result<Outcome> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading policy file {}", file.display()))?;
    let policy = Policy::parse("fmt", &text)
        .with_context(|| format!("{} is not a valid policy", file.display()))?;
    replace_file(file, &canonical_text(&policy))?;
    output::line(&format!("Success! Formatted policy: {}", file.display()));
    Ok(Outcome::Success)
}

/// Replaces a file's contents atomically (a sibling temporary file renamed over it), keeping
/// its permissions.
fn replace_file(file: &Path, text: &str) -> anyhow::Result<()> {
    let dir = match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let permissions = std::fs::metadata(file)
        .with_context(|| format!("reading the permissions of {}", file.display()))?
        .permissions();
    let mut temp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    std::io::Write::write_all(&mut temp, text.as_bytes())
        .with_context(|| format!("writing a temporary file in {}", dir.display()))?;
    temp.as_file()
        .set_permissions(permissions)
        .with_context(|| format!("setting the permissions of {}", file.display()))?;
    temp.persist(file)
        .with_context(|| format!("replacing {}", file.display()))?;
    Ok(())
}

/// A policy in canonical HCL: its rules in order, each `path "<pattern>" { … }` block with
/// `capabilities` (sorted), then any parameter constraints and wrapping TTLs; blocks are
/// separated by a blank line. Comments and the `name` key are not kept.
pub(crate) fn canonical_text(policy: &Policy) -> String {
    let blocks: Vec<String> = policy.rules().iter().map(rule_block).collect();
    blocks.join("\n")
}

/// A policy of plain capability rules in canonical HCL (what `coffer access` writes).
pub(crate) fn capabilities_text(rules: &[(String, Capabilities)]) -> String {
    let blocks: Vec<String> = rules
        .iter()
        .map(|(path, capabilities)| {
            let mut block = open_block(path, *capabilities);
            block.push_str("}\n");
            block
        })
        .collect();
    blocks.join("\n")
}

/// `path "<pattern>" {` and the capabilities line.
fn open_block(path: &str, capabilities: Capabilities) -> String {
    let names: Vec<String> = capabilities
        .iter()
        .map(|capability| hcl_string(capability.as_str()))
        .collect();
    format!(
        "path {} {{\n  capabilities = [{}]\n",
        hcl_string(path),
        names.join(", ")
    )
}

/// One rule's block.
fn rule_block(rule: &Rule) -> String {
    let mut block = open_block(rule.path(), rule.capabilities());
    if !rule.required_parameters().is_empty() {
        let names: Vec<String> = rule
            .required_parameters()
            .iter()
            .map(|name| hcl_string(name))
            .collect();
        block.push_str(&format!("  required_parameters = [{}]\n", names.join(", ")));
    }
    for (key, values) in [
        ("allowed_parameters", rule.allowed_parameters()),
        ("denied_parameters", rule.denied_parameters()),
    ] {
        if !values.is_empty() {
            block.push_str(&parameters_block(key, values));
        }
    }
    for (key, ttl) in [
        ("min_wrapping_ttl", rule.min_wrapping_ttl()),
        ("max_wrapping_ttl", rule.max_wrapping_ttl()),
    ] {
        if let Some(ttl) = ttl {
            let text = if ttl.subsec_nanos() == 0 {
                format!("{}s", ttl.as_secs())
            } else {
                format!("{}ns", ttl.as_nanos())
            };
            block.push_str(&format!("  {key} = {}\n", hcl_string(&text)));
        }
    }
    block.push_str("}\n");
    block
}

/// `allowed_parameters = { "name" = [values] … }`, one parameter per line.
fn parameters_block(key: &str, values: &ParameterValues) -> String {
    let mut out = format!("  {key} = {{\n");
    for (name, patterns) in values {
        let items: Vec<String> = patterns.iter().map(hcl_value).collect();
        out.push_str(&format!(
            "    {} = [{}]\n",
            hcl_string(name),
            items.join(", ")
        ));
    }
    out.push_str("  }\n");
    out
}

/// A JSON value as an HCL expression.
fn hcl_value(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => hcl_string(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(hcl_value).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(key, value)| format!("{} = {}", hcl_string(key), hcl_value(value)))
                .collect();
            format!("{{ {} }}", items.join(", "))
        }
    }
}

/// A quoted HCL string: escapes for quotes, backslashes and control characters, and `$${` /
/// `%%{` so that template sequences stay literal text.
fn hcl_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Policy {
        Policy::parse("p", text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    /// `check(policy text, expected canonical text)`; the canonical text must parse to the
    /// same rules and format to itself.
    fn check(input: &str, expected: &str) {
        let policy = parse(input);
        let formatted = canonical_text(&policy);
        assert_eq!(formatted, expected, "{input}");
        let again = parse(&formatted);
        assert_eq!(
            canonical_text(&again),
            formatted,
            "formatting is idempotent"
        );
        assert_eq!(
            summary(&again),
            summary(&policy),
            "same rules after formatting"
        );
    }

    /// Everything a rule means, for comparing policies.
    fn summary(policy: &Policy) -> Vec<String> {
        policy
            .rules()
            .iter()
            .map(|rule| {
                format!(
                    "{:?} {:?} {:?} {:?} {:?} {:?} {:?}",
                    rule.path(),
                    rule.capabilities(),
                    rule.required_parameters(),
                    rule.allowed_parameters(),
                    rule.denied_parameters(),
                    rule.min_wrapping_ttl(),
                    rule.max_wrapping_ttl()
                )
            })
            .collect()
    }

    #[test]
    fn canonical_blocks() {
        check(
            "path \"secret/*\" { capabilities = [\"read\",\"create\"] }",
            "path \"secret/*\" {\n  capabilities = [\"create\", \"read\"]\n}\n",
        );
        check(
            "# team\npath \"a\" {\n    capabilities=[\"list\"]\n}\npath \"b/+/c\" {\n  capabilities = [\"deny\", \"read\"]\n}",
            "path \"a\" {\n  capabilities = [\"list\"]\n}\n\npath \"b/+/c\" {\n  capabilities = [\"deny\"]\n}\n",
        );
        check(
            "path \"legacy\" { policy = \"write\" }",
            "path \"legacy\" {\n  capabilities = [\"create\", \"delete\", \"list\", \"patch\", \"read\", \"update\"]\n}\n",
        );
        check("", "");
    }

    #[test]
    fn canonical_json_policies() {
        check(
            r#"{"path": {"secret/data/x": {"capabilities": ["update", "read"]}}}"#,
            "path \"secret/data/x\" {\n  capabilities = [\"read\", \"update\"]\n}\n",
        );
    }

    #[test]
    fn canonical_parameters_and_ttls() {
        check(
            r#"path "sys/x" {
  capabilities = ["update"]
  required_parameters = ["Name"]
  allowed_parameters = {
    "name" = ["a-*", "b"]
    "count" = [1, true]
    "*" = []
  }
  denied_parameters = { "secret" = [] }
  min_wrapping_ttl = "1m"
  max_wrapping_ttl = 5400
}"#,
            "path \"sys/x\" {\n  capabilities = [\"update\"]\n  required_parameters = [\"name\"]\n  \
             allowed_parameters = {\n    \"*\" = []\n    \"count\" = [1, true]\n    \
             \"name\" = [\"a-*\", \"b\"]\n  }\n  denied_parameters = {\n    \"secret\" = []\n  }\n  \
             min_wrapping_ttl = \"60s\"\n  max_wrapping_ttl = \"5400s\"\n}\n",
        );
        check(
            "path \"w\" {\n  capabilities = [\"read\"]\n  max_wrapping_ttl = \"1.5s\"\n}",
            "path \"w\" {\n  capabilities = [\"read\"]\n  max_wrapping_ttl = \"1500000000ns\"\n}\n",
        );
    }

    #[test]
    fn strings_stay_literal() {
        let cases = [
            ("plain", r#""plain""#),
            ("q\"uote", r#""q\"uote""#),
            ("back\\slash", r#""back\\slash""#),
            ("tmpl ${x} %{y}", r#""tmpl $${x} %%{y}""#),
            ("cost $5 and 10%", r#""cost $5 and 10%""#),
            ("line\nbreak\u{1}", r#""line\nbreak\u0001""#),
        ];
        for (input, expected) in cases {
            assert_eq!(hcl_string(input), expected, "{input:?}");
        }
        check(
            "path \"secret/data/{{identity.entity.id}}/*\" { capabilities = [\"read\"] }",
            "path \"secret/data/{{identity.entity.id}}/*\" {\n  capabilities = [\"read\"]\n}\n",
        );
        check(
            r#"path "p" {
  capabilities = ["create"]
  allowed_parameters = { "v" = ["$${literal}", "quo\"te"] }
}"#,
            "path \"p\" {\n  capabilities = [\"create\"]\n  allowed_parameters = {\n    \
             \"v\" = [\"$${literal}\", \"quo\\\"te\"]\n  }\n}\n",
        );
    }

    #[test]
    fn capability_rules() {
        let read: Capabilities = [coffer_policy::Capability::Read].into_iter().collect();
        let text = capabilities_text(&[
            ("secret/data/a/*".to_owned(), read),
            (
                "secret/metadata/a/*".to_owned(),
                read.with(coffer_policy::Capability::List),
            ),
        ]);
        assert_eq!(
            text,
            "path \"secret/data/a/*\" {\n  capabilities = [\"read\"]\n}\n\n\
             path \"secret/metadata/a/*\" {\n  capabilities = [\"list\", \"read\"]\n}\n"
        );
        assert_eq!(summary(&parse(&text)).len(), 2);
    }

    #[test]
    fn fmt_rewrites_valid_files_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("p.hcl");
        std::fs::write(&file, "path \"a\" {capabilities=[\"read\"]}").expect("write");
        assert!(fmt(&file).is_ok());
        assert_eq!(
            std::fs::read_to_string(&file).ok().as_deref(),
            Some("path \"a\" {\n  capabilities = [\"read\"]\n}\n")
        );
        let bad = "path \"a\" { capabilities = [\"bogus\"] }";
        std::fs::write(&file, bad).expect("write");
        let error = fmt(&file).map(|_| ()).map_err(|e| format!("{e:#}"));
        assert!(
            error
                .as_ref()
                .is_err_and(|e| e.contains("invalid capability \"bogus\"")),
            "{error:?}"
        );
        assert_eq!(std::fs::read_to_string(&file).ok().as_deref(), Some(bad));
    }
}
