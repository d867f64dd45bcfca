//! Queries over a log for `coffer audit logs`: the response records (each carrying its request)
//! that match a filter by resource, action, actor, path glob, time and outcome. The breakdown
//! of a record into resource, action and outcome is public so a CLI can show it, and
//! [`AuditSummary::of`] is the one place a record becomes the summary `sys/audit-logs` answers
//! with (the store computes its columns with it at insert).

use std::collections::VecDeque;
use std::io::BufRead;
use std::str::FromStr;
use std::time::SystemTime;

use serde_json::Value;

use crate::error::{Error, Result};

/// Which response records [`query`] returns; `None` fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// What kind of thing the request touched.
    pub resource: Option<Resource>,
    /// What the request did.
    pub action: Option<Action>,
    /// The caller's identity `(type, name)`; either part may use `*` globs.
    pub actor: Option<(String, String)>,
    /// A glob over the request path: `*` matches anything (slashes included), `+` one segment.
    pub path_glob: Option<String>,
    /// Records at or after this time.
    pub since: Option<SystemTime>,
    /// Records strictly before this time.
    pub until: Option<SystemTime>,
    /// Whether the request succeeded.
    pub result: Option<Outcome>,
}

/// What kind of thing a request touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// KV values and metadata, and `sys/batch`.
    Secrets,
    /// Typed credentials (`credentials/`).
    Credentials,
    /// Leases (`sys/leases`, and the legacy `sys/renew`, `sys/revoke*`).
    Leases,
    /// Auth methods and tokens (`auth/`).
    Auth,
}

/// What a request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `read`, `list` or `scan`.
    Read,
    /// `create`, `update` or `patch`.
    Write,
    /// `delete`.
    Delete,
    /// A credential lease (`credentials/<name>/lease`).
    Lease,
    /// A rotation (a path ending in `rotate`).
    Rotate,
    /// A login (`auth/<method>/login…`).
    Login,
    /// Refused by policy (status 403, or `policy_results.allowed` false).
    Denied,
    /// A notification the server raised by itself (operation `notify`: rotation reminders).
    Notify,
}

/// Whether a request succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Status below 400 and no error.
    Success,
    /// Status 400 or more, or an error.
    Failure,
}

/// One line of `sys/audit-logs`: who did what to which path, when, and how it ended. Derived
/// from a response record by [`AuditSummary::of`] (the store keeps these fields as columns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSummary {
    /// The record's time as written (RFC 3339), if it has one.
    pub time: Option<String>,
    /// `type:name` of the caller's identity, else its display name, else `anonymous`.
    pub actor: String,
    /// What the request did, when it can be classified.
    pub action: Option<Action>,
    /// What kind of thing the request touched, when it can be classified.
    pub resource: Option<Resource>,
    /// The request path (empty when the record has none).
    pub path: String,
    /// The request operation as logged (`read`, `update`, ...; empty when absent).
    pub operation: String,
    /// Whether the request succeeded.
    pub result: Outcome,
    /// The error returned, if any (an empty error is none).
    pub error: Option<String>,
    /// The request id, if logged.
    pub request_id: Option<String>,
}

impl AuditSummary {
    /// The summary of a response record.
    pub fn of(record: &Value) -> AuditSummary {
        let owned = |pointer: &str| text(record, pointer).map(str::to_owned);
        let actor = match record.pointer("/auth/identity").and_then(Value::as_object) {
            Some(identity) => format!(
                "{}:{}",
                identity.get("type").and_then(Value::as_str).unwrap_or(""),
                identity.get("name").and_then(Value::as_str).unwrap_or("")
            ),
            None => text(record, "/auth/display_name")
                .filter(|d| !d.is_empty())
                .unwrap_or("anonymous")
                .to_owned(),
        };
        AuditSummary {
            time: owned("/time"),
            actor,
            action: Action::of(record),
            resource: Resource::of(record),
            path: owned("/request/path").unwrap_or_default(),
            operation: owned("/request/operation").unwrap_or_default(),
            result: Outcome::of(record),
            error: owned("/error").filter(|e| !e.is_empty()),
            request_id: owned("/request/id"),
        }
    }
}

/// [`query`], answering with summaries: the same records, in the same order.
pub fn summaries(
    reader: impl BufRead,
    filter: &Filter,
    limit: Option<usize>,
) -> Result<Vec<AuditSummary>> {
    Ok(query(reader, filter, limit)?
        .iter()
        .map(AuditSummary::of)
        .collect())
}

/// The response records of the log read from `reader` that match `filter`, oldest first; with
/// a `limit`, only the newest `limit` of them. Request lines and checkpoints are skipped; a line
/// that is not JSON is an error, except a last line without newline (a write in progress).
pub fn query(reader: impl BufRead, filter: &Filter, limit: Option<usize>) -> Result<Vec<Value>> {
    let mut reader = reader;
    let mut found = VecDeque::new();
    let mut line_no = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        line_no += 1;
        let complete = buf.last() == Some(&b'\n');
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record: Value = match serde_json::from_slice(&buf) {
            Ok(record) => record,
            Err(_) if !complete => break,
            Err(e) => {
                return Err(Error::Malformed {
                    line: line_no,
                    reason: format!(
                        "not JSON ({:?} error at column {})",
                        e.classify(),
                        e.column()
                    ),
                });
            }
        };
        if record.get("type").and_then(Value::as_str) != Some("response") {
            continue;
        }
        if !matches(&record, filter).map_err(|reason| Error::Malformed {
            line: line_no,
            reason: reason.to_owned(),
        })? {
            continue;
        }
        if limit == Some(0) {
            continue;
        }
        if let Some(limit) = limit
            && found.len() == limit
        {
            found.pop_front();
        }
        found.push_back(record);
    }
    Ok(found.into())
}

/// `type:name` (e.g. `user:alice`) as an actor for [`Filter::actor`].
pub fn parse_actor(spec: &str) -> Result<(String, String)> {
    match spec.split_once(':') {
        Some((kind, name)) if !kind.is_empty() && !name.is_empty() => {
            Ok((kind.to_owned(), name.to_owned()))
        }
        _ => Err(Error::UnknownName {
            kind: "actor (expected type:name)",
            name: spec.to_owned(),
        }),
    }
}

impl Resource {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Secrets => "secrets",
            Resource::Credentials => "credentials",
            Resource::Leases => "leases",
            Resource::Auth => "auth",
        }
    }

    /// What the record's request touched, from its path and mount type.
    pub fn of(record: &Value) -> Option<Resource> {
        let path = text(record, "/request/path")?;
        resource_of(path, text(record, "/request/mount_type"))
    }
}

impl Action {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Write => "write",
            Action::Delete => "delete",
            Action::Lease => "lease",
            Action::Rotate => "rotate",
            Action::Login => "login",
            Action::Denied => "denied",
            Action::Notify => "notify",
        }
    }

    /// What the record's request did; a refusal is [`Action::Denied`] whatever was attempted.
    pub fn of(record: &Value) -> Option<Action> {
        let denied = record.pointer("/response/status").and_then(Value::as_u64) == Some(403)
            || record
                .pointer("/auth/policy_results/allowed")
                .and_then(Value::as_bool)
                == Some(false);
        if denied {
            return Some(Action::Denied);
        }
        let path = text(record, "/request/path")?;
        if text(record, "/request/operation") == Some("notify") {
            return Some(Action::Notify);
        }
        let relative =
            text(record, "/request/mount_point").and_then(|mount| path.strip_prefix(mount));
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let relative: Vec<&str> = match relative {
            Some(rest) => rest.split('/').filter(|s| !s.is_empty()).collect(),
            // Without mount information, assume the usual depth: `auth/userpass/`, `secret/`.
            None => {
                let depth = if segments.first() == Some(&"auth") {
                    2
                } else {
                    1
                };
                segments
                    .get(depth..)
                    .map(<[&str]>::to_vec)
                    .unwrap_or_default()
            }
        };
        let mount_type = text(record, "/request/mount_type");
        if segments.first() == Some(&"auth") && relative.first() == Some(&"login") {
            return Some(Action::Login);
        }
        if resource_of(path, mount_type) == Some(Resource::Credentials)
            && relative.len() == 2
            && relative.get(1) == Some(&"lease")
        {
            return Some(Action::Lease);
        }
        if segments.last() == Some(&"rotate") {
            return Some(Action::Rotate);
        }
        match text(record, "/request/operation")? {
            "read" | "list" | "scan" => Some(Action::Read),
            "create" | "update" | "patch" => Some(Action::Write),
            "delete" => Some(Action::Delete),
            _ => None,
        }
    }
}

impl Outcome {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }

    /// Failure when the status is 400 or more or an error was returned.
    pub fn of(record: &Value) -> Outcome {
        let failed_status = record
            .pointer("/response/status")
            .and_then(Value::as_u64)
            .is_some_and(|status| status >= 400);
        let error = text(record, "/error").is_some_and(|e| !e.is_empty());
        if failed_status || error {
            Outcome::Failure
        } else {
            Outcome::Success
        }
    }
}

impl FromStr for Resource {
    type Err = Error;

    fn from_str(name: &str) -> Result<Resource> {
        [
            Resource::Secrets,
            Resource::Credentials,
            Resource::Leases,
            Resource::Auth,
        ]
        .into_iter()
        .find(|r| r.as_str() == name)
        .ok_or_else(|| unknown("resource", name))
    }
}

impl FromStr for Action {
    type Err = Error;

    fn from_str(name: &str) -> Result<Action> {
        [
            Action::Read,
            Action::Write,
            Action::Delete,
            Action::Lease,
            Action::Rotate,
            Action::Login,
            Action::Denied,
            Action::Notify,
        ]
        .into_iter()
        .find(|a| a.as_str() == name)
        // v-secure's `--action accessed` is a read.
        .or((name == "accessed").then_some(Action::Read))
        .ok_or_else(|| unknown("action", name))
    }
}

impl FromStr for Outcome {
    type Err = Error;

    fn from_str(name: &str) -> Result<Outcome> {
        [Outcome::Success, Outcome::Failure]
            .into_iter()
            .find(|o| o.as_str() == name)
            .ok_or_else(|| unknown("result", name))
    }
}

fn unknown(kind: &'static str, name: &str) -> Error {
    Error::UnknownName {
        kind,
        name: name.to_owned(),
    }
}

fn text<'a>(record: &'a Value, pointer: &str) -> Option<&'a str> {
    record.pointer(pointer).and_then(Value::as_str)
}

fn resource_of(path: &str, mount_type: Option<&str>) -> Option<Resource> {
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    let first = segments.next()?;
    let second = segments.next();
    match (first, second) {
        ("auth", _) => Some(Resource::Auth),
        ("sys", Some("leases" | "renew" | "revoke" | "revoke-prefix" | "revoke-force")) => {
            Some(Resource::Leases)
        }
        ("sys", Some("batch")) => Some(Resource::Secrets),
        ("sys", _) => None,
        _ if mount_type == Some("credentials") => Some(Resource::Credentials),
        _ if mount_type == Some("kv") => Some(Resource::Secrets),
        ("credentials", _) if mount_type.is_none() => Some(Resource::Credentials),
        (_, Some("data" | "metadata")) if mount_type.is_none() => Some(Resource::Secrets),
        _ => None,
    }
}

/// Whether `record` passes `filter`; `Err` says what in the record is malformed.
fn matches(record: &Value, filter: &Filter) -> std::result::Result<bool, &'static str> {
    if let Some(resource) = filter.resource
        && Resource::of(record) != Some(resource)
    {
        return Ok(false);
    }
    if let Some(action) = filter.action
        && Action::of(record) != Some(action)
    {
        return Ok(false);
    }
    if let Some(outcome) = filter.result
        && Outcome::of(record) != outcome
    {
        return Ok(false);
    }
    if let Some((kind, name)) = &filter.actor {
        let actual = (
            text(record, "/auth/identity/type"),
            text(record, "/auth/identity/name"),
        );
        let (Some(actual_kind), Some(actual_name)) = actual else {
            return Ok(false);
        };
        if !glob(kind, actual_kind) || !glob(name, actual_name) {
            return Ok(false);
        }
    }
    if let Some(pattern) = &filter.path_glob {
        let Some(path) = text(record, "/request/path") else {
            return Ok(false);
        };
        if !glob(pattern, path) {
            return Ok(false);
        }
    }
    if filter.since.is_some() || filter.until.is_some() {
        let time = text(record, "/time")
            .and_then(|t| humantime::parse_rfc3339(t).ok())
            .ok_or("no valid time")?;
        if filter.since.is_some_and(|since| time < since)
            || filter.until.is_some_and(|until| time >= until)
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Matches `text` against `pattern`: `*` is any run of characters (slashes included), `+` any
/// run without a slash, everything else itself.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    // reachable[j]: the pattern prefix read so far matches text[..j].
    let mut reachable = vec![false; text.len() + 1];
    reachable[0] = true;
    for p in &pattern {
        let mut next = vec![false; text.len() + 1];
        match p {
            '*' | '+' => {
                let mut open = false;
                for (j, slot) in next.iter_mut().enumerate() {
                    if reachable[j] {
                        open = true;
                    } else if *p == '+' && j > 0 && text[j - 1] == '/' {
                        open = false;
                    }
                    *slot = open;
                }
            }
            literal => {
                for j in 1..=text.len() {
                    next[j] = reachable[j - 1] && text[j - 1] == *literal;
                }
            }
        }
        reachable = next;
    }
    reachable[text.len()]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn globs() {
        let check = |pattern: &str, text: &str, expected: bool| {
            assert_eq!(glob(pattern, text), expected, "{pattern} ~ {text}");
        };
        check("secret/data/prod/*", "secret/data/prod/db", true);
        check("secret/data/prod/*", "secret/data/prod/a/b", true);
        check("secret/data/prod/*", "secret/data/prod/", true);
        check("secret/data/prod/*", "secret/data/prodx", false);
        check("secret/data/prod/*", "secret/data/staging/db", false);
        check("secret/data/+/db", "secret/data/prod/db", true);
        check("secret/data/+/db", "secret/data/a/b/db", false);
        check("secret/*/db", "secret/data/a/b/db", true);
        check("exact", "exact", true);
        check("exact", "exactly", false);
        check("", "", true);
        check("*", "", true);
        check("*", "anything/at/all", true);
        check("a*b*c", "a-b-c", true);
        check("a*b*c", "a-c-b", false);
        check("ünï*", "ünïcode", true);
        check("deploy-*", "deploy-42", true);
        check("deploy-*", "build-42", false);
    }

    fn response(path: &str, operation: &str, status: u16) -> Value {
        json!({
            "type": "response",
            "request": {"path": path, "operation": operation},
            "response": {"status": status},
        })
    }

    #[test]
    fn resources() {
        let check = |path: &str, mount_type: Option<&str>, expected: Option<Resource>| {
            assert_eq!(
                resource_of(path, mount_type),
                expected,
                "{path} {mount_type:?}"
            );
        };
        check("secret/data/app/db", Some("kv"), Some(Resource::Secrets));
        check("secret/metadata/app", Some("kv"), Some(Resource::Secrets));
        check("kv1/app", Some("kv"), Some(Resource::Secrets));
        check("secret/data/app/db", None, Some(Resource::Secrets));
        check("team/secret/metadata/x", None, None);
        check("sys/batch", None, Some(Resource::Secrets));
        check(
            "credentials/stripe",
            Some("credentials"),
            Some(Resource::Credentials),
        );
        check(
            "credentials/stripe/lease",
            None,
            Some(Resource::Credentials),
        );
        check(
            "creds2/stripe",
            Some("credentials"),
            Some(Resource::Credentials),
        );
        check("sys/leases/lookup", None, Some(Resource::Leases));
        check("sys/leases/revoke-identity", None, Some(Resource::Leases));
        check("sys/renew/abc", None, Some(Resource::Leases));
        check("auth/userpass/login/alice", None, Some(Resource::Auth));
        check("auth/token/create", Some("token"), Some(Resource::Auth));
        check("sys/mounts", None, None);
        check("sys/data/x", None, None);
        check("cubbyhole/x", Some("cubbyhole"), None);
        check("", None, None);
    }

    #[test]
    fn actions() {
        let check = |record: Value, expected: Option<Action>| {
            assert_eq!(Action::of(&record), expected, "{record}");
        };
        check(response("secret/data/a", "read", 200), Some(Action::Read));
        check(
            response("secret/metadata/", "list", 200),
            Some(Action::Read),
        );
        check(
            response("secret/data/a", "create", 200),
            Some(Action::Write),
        );
        check(
            response("secret/data/a", "update", 204),
            Some(Action::Write),
        );
        check(response("secret/data/a", "patch", 200), Some(Action::Write));
        check(
            response("secret/data/a", "delete", 204),
            Some(Action::Delete),
        );
        check(response("secret/data/a", "read", 403), Some(Action::Denied));
        check(
            response("credentials/stripe/lease", "update", 200),
            Some(Action::Lease),
        );
        check(
            response("credentials/stripe/lease/abc", "read", 200),
            Some(Action::Read),
        );
        check(
            response("credentials/stripe/rotate", "update", 200),
            Some(Action::Rotate),
        );
        check(response("sys/rotate", "update", 204), Some(Action::Rotate));
        check(
            response("auth/userpass/login/alice", "update", 200),
            Some(Action::Login),
        );
        check(
            response("auth/approle/login", "update", 200),
            Some(Action::Login),
        );
        check(
            response("auth/userpass/login/alice", "update", 403),
            Some(Action::Denied),
        );
        check(
            response("auth/token/create", "update", 200),
            Some(Action::Write),
        );
        check(response("secret/data/a", "help", 200), None);
        check(
            json!({"request": {"path": "auth/team/userpass/login/bob", "operation": "update",
                "mount_point": "auth/team/userpass/"}, "response": {"status": 200}}),
            Some(Action::Login),
        );
        check(
            json!({"request": {"path": "auth/approle/role/login/secret-id", "operation": "update",
                "mount_point": "auth/approle/"}, "response": {"status": 200}}),
            Some(Action::Write),
        );
        check(
            json!({"auth": {"policy_results": {"allowed": false}},
                "request": {"path": "secret/data/a", "operation": "read"}}),
            Some(Action::Denied),
        );
    }

    #[test]
    fn summaries_of_records() {
        let check = |record: Value, expected: AuditSummary| {
            assert_eq!(AuditSummary::of(&record), expected, "{record}");
        };
        let base = || AuditSummary {
            time: None,
            actor: "anonymous".to_owned(),
            action: None,
            resource: None,
            path: String::new(),
            operation: String::new(),
            result: Outcome::Success,
            error: None,
            request_id: None,
        };
        check(json!({}), base());
        check(
            json!({"time": "2026-01-02T03:04:05.000000006Z", "type": "response",
                "auth": {"display_name": "userpass-alice",
                    "identity": {"type": "user", "name": "alice"}},
                "request": {"id": "r1", "path": "secret/data/a", "operation": "read",
                    "mount_point": "secret/", "mount_type": "kv"},
                "response": {"status": 200}}),
            AuditSummary {
                time: Some("2026-01-02T03:04:05.000000006Z".to_owned()),
                actor: "user:alice".to_owned(),
                action: Some(Action::Read),
                resource: Some(Resource::Secrets),
                path: "secret/data/a".to_owned(),
                operation: "read".to_owned(),
                request_id: Some("r1".to_owned()),
                ..base()
            },
        );
        check(
            json!({"auth": {"display_name": "token-ci"},
                "request": {"path": "secret/data/a", "operation": "update"},
                "response": {"status": 403}, "error": "permission denied"}),
            AuditSummary {
                actor: "token-ci".to_owned(),
                action: Some(Action::Denied),
                resource: Some(Resource::Secrets),
                path: "secret/data/a".to_owned(),
                operation: "update".to_owned(),
                result: Outcome::Failure,
                error: Some("permission denied".to_owned()),
                ..base()
            },
        );
        check(
            json!({"auth": {"display_name": ""}, "error": "",
                "request": {"path": "sys/mounts", "operation": "help"}}),
            AuditSummary {
                path: "sys/mounts".to_owned(),
                operation: "help".to_owned(),
                ..base()
            },
        );
        check(
            json!({"auth": {"identity": {"type": "agent"}}, "response": {"status": 500}}),
            AuditSummary {
                actor: "agent:".to_owned(),
                result: Outcome::Failure,
                ..base()
            },
        );
    }

    #[test]
    fn outcomes() {
        let check = |record: Value, expected: Outcome| {
            assert_eq!(Outcome::of(&record), expected, "{record}");
        };
        check(response("a", "read", 200), Outcome::Success);
        check(response("a", "read", 204), Outcome::Success);
        check(response("a", "read", 404), Outcome::Failure);
        check(response("a", "read", 500), Outcome::Failure);
        check(json!({"error": "permission denied"}), Outcome::Failure);
        check(json!({"error": ""}), Outcome::Success);
        check(json!({}), Outcome::Success);
    }

    #[test]
    fn names_parse() {
        for r in [
            Resource::Secrets,
            Resource::Credentials,
            Resource::Leases,
            Resource::Auth,
        ] {
            assert_eq!(r.as_str().parse::<Resource>().ok(), Some(r));
        }
        for a in [
            Action::Read,
            Action::Write,
            Action::Delete,
            Action::Lease,
            Action::Rotate,
            Action::Login,
            Action::Denied,
        ] {
            assert_eq!(a.as_str().parse::<Action>().ok(), Some(a));
        }
        // v-secure's `audit:logs --action accessed` means reads.
        assert_eq!("accessed".parse::<Action>().ok(), Some(Action::Read));
        assert_eq!("failure".parse::<Outcome>().ok(), Some(Outcome::Failure));
        assert!(matches!(
            "secret".parse::<Resource>(),
            Err(Error::UnknownName { .. })
        ));
        assert!(matches!(
            "Read".parse::<Action>(),
            Err(Error::UnknownName { .. })
        ));
        assert!("ok".parse::<Outcome>().is_err());
        assert_eq!(
            parse_actor("user:alice").ok(),
            Some(("user".to_owned(), "alice".to_owned()))
        );
        assert_eq!(
            parse_actor("agent:deploy:blue").ok(),
            Some(("agent".to_owned(), "deploy:blue".to_owned()))
        );
        assert!(parse_actor("alice").is_err());
        assert!(parse_actor(":alice").is_err());
        assert!(parse_actor("user:").is_err());
    }
}
