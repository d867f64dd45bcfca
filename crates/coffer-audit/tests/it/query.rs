//! Queries over a log by resource, action, actor, path glob, time and outcome.

use std::io::Cursor;

use coffer_audit::{
    Action, AuditEvent, AuditSummary, Error, Filter, Outcome, Resource, parse_actor, query,
    summaries,
};
use serde_json::Value;

use crate::{PATIENCE, alice, at, caller, memory_device, response_event};

/// `(id, identity, operation, path, mount type, status, seconds after the base time)`.
type Row = (
    &'static str,
    Option<(&'static str, &'static str)>,
    &'static str,
    &'static str,
    Option<&'static str>,
    u16,
    u64,
);

const ROWS: &[Row] = &[
    (
        "r1",
        Some(("user", "alice")),
        "read",
        "secret/data/prod/db",
        Some("kv"),
        200,
        0,
    ),
    (
        "r2",
        Some(("user", "alice")),
        "create",
        "secret/data/dev/app",
        Some("kv"),
        200,
        10,
    ),
    (
        "r3",
        Some(("user", "bob")),
        "read",
        "secret/data/prod/db",
        Some("kv"),
        403,
        20,
    ),
    (
        "r4",
        Some(("agent", "deploy-1")),
        "update",
        "credentials/stripe/lease",
        Some("credentials"),
        200,
        30,
    ),
    (
        "r5",
        Some(("user", "alice")),
        "update",
        "credentials/stripe/rotate",
        Some("credentials"),
        200,
        40,
    ),
    (
        "r6",
        None,
        "update",
        "auth/userpass/login/alice",
        Some("userpass"),
        200,
        50,
    ),
    (
        "r7",
        Some(("agent", "deploy-2")),
        "update",
        "sys/leases/revoke",
        None,
        204,
        60,
    ),
    (
        "r8",
        Some(("user", "alice")),
        "delete",
        "secret/metadata/prod/old",
        Some("kv"),
        204,
        70,
    ),
    (
        "r9",
        Some(("user", "alice")),
        "read",
        "secret/data/prod/missing",
        Some("kv"),
        404,
        80,
    ),
];

/// The events of `ROWS`: for each, its request then its response.
pub(crate) fn events() -> Vec<AuditEvent> {
    let mut events = Vec::new();
    for (id, who, operation, path, mount_type, status, secs) in ROWS {
        let mut event = response_event(id, operation, path, *status);
        event.time = at(*secs);
        event.request.mount_type = mount_type.map(str::to_owned);
        event.request.mount_point = mount_type.map(|_| {
            let first = path.split('/').next().unwrap_or_default();
            if first == "auth" {
                "auth/userpass/".to_owned()
            } else {
                format!("{first}/")
            }
        });
        event.auth = who.map(|(kind, name)| {
            if (kind, name) == ("user", "alice") {
                alice()
            } else {
                caller(kind, name)
            }
        });
        if *status == 403 {
            event.error = Some("permission denied".to_owned());
        }
        let mut request = event.clone();
        request.kind = coffer_audit::EventKind::Request;
        request.response = None;
        events.push(request);
        events.push(event);
    }
    events
}

/// The log of `ROWS`, each with its request line before its response line.
async fn log() -> Vec<u8> {
    let (device, sink) = memory_device(&[]);
    for event in events() {
        device
            .log(&event, PATIENCE)
            .await
            .expect("memory never fails");
    }
    sink.text()
}

/// The request ids of records.
pub(crate) fn ids(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["request"]["id"].as_str().expect("an id").to_owned())
        .collect()
}

/// A filter, a limit, and the request ids of the responses expected over `events()`.
pub(crate) type Case = (Filter, Option<usize>, &'static [&'static str]);

async fn check(cases: Vec<Case>) {
    let log = log().await;
    for (filter, limit, expected) in cases {
        let found = query(Cursor::new(&log), &filter, limit).expect("a valid log");
        assert!(found.iter().all(|r| r["type"] == "response"));
        assert_eq!(ids(&found), expected, "{filter:?} limit {limit:?}");
    }
}

fn all() -> Filter {
    Filter::default()
}

/// Every case below, for running the same table against another reader (the store).
pub(crate) fn every_case() -> Vec<Case> {
    [
        unfiltered(),
        resources(),
        actions(),
        actors(),
        path_globs(),
        times(),
        results_and_combined(),
    ]
    .concat()
}

fn unfiltered() -> Vec<Case> {
    vec![
        (
            all(),
            None,
            &["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"],
        ),
        (all(), Some(3), &["r7", "r8", "r9"]),
        (all(), Some(0), &[]),
        (
            all(),
            Some(100),
            &["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"],
        ),
    ]
}

fn resources() -> Vec<Case> {
    let by = |r| Filter {
        resource: Some(r),
        ..all()
    };
    vec![
        (by(Resource::Secrets), None, &["r1", "r2", "r3", "r8", "r9"]),
        (by(Resource::Secrets), Some(2), &["r8", "r9"]),
        (by(Resource::Credentials), None, &["r4", "r5"]),
        (by(Resource::Leases), None, &["r7"]),
        (by(Resource::Auth), None, &["r6"]),
    ]
}

fn actions() -> Vec<Case> {
    let by = |a| Filter {
        action: Some(a),
        ..all()
    };
    vec![
        (by(Action::Read), None, &["r1", "r9"]),
        (by(Action::Write), None, &["r2", "r7"]),
        (by(Action::Delete), None, &["r8"]),
        (by(Action::Lease), None, &["r4"]),
        (by(Action::Rotate), None, &["r5"]),
        (by(Action::Login), None, &["r6"]),
        (by(Action::Denied), None, &["r3"]),
    ]
}

fn actors() -> Vec<Case> {
    let by = |spec: &str| Filter {
        actor: Some(parse_actor(spec).expect("type:name")),
        ..all()
    };
    vec![
        (by("user:alice"), None, &["r1", "r2", "r5", "r8", "r9"]),
        (by("user:alice"), Some(1), &["r9"]),
        (by("user:bob"), None, &["r3"]),
        (by("agent:deploy-*"), None, &["r4", "r7"]),
        (by("*:deploy-+"), None, &["r4", "r7"]),
        (by("agent:alice"), None, &[]),
    ]
}

fn path_globs() -> Vec<Case> {
    let by = |glob: &str| Filter {
        path_glob: Some(glob.to_owned()),
        ..all()
    };
    vec![
        (by("secret/data/prod/*"), None, &["r1", "r3", "r9"]),
        (by("secret/data/prod/*"), Some(2), &["r3", "r9"]),
        (by("secret/+/prod/*"), None, &["r1", "r3", "r8", "r9"]),
        (by("secret/+/db"), None, &[]),
        (by("credentials/stripe/lease"), None, &["r4"]),
        (by("nothing/*"), None, &[]),
    ]
}

fn times() -> Vec<Case> {
    let since = |s| Filter {
        since: Some(at(s)),
        ..all()
    };
    let until = |s| Filter {
        until: Some(at(s)),
        ..all()
    };
    vec![
        (since(60), None, &["r7", "r8", "r9"]),
        (since(61), None, &["r8", "r9"]),
        (until(20), None, &["r1", "r2"]),
        (
            Filter {
                since: Some(at(10)),
                until: Some(at(40)),
                ..all()
            },
            None,
            &["r2", "r3", "r4"],
        ),
    ]
}

fn results_and_combined() -> Vec<Case> {
    let by = |o| Filter {
        result: Some(o),
        ..all()
    };
    let combined = Filter {
        resource: Some(Resource::Secrets),
        actor: Some(("user".to_owned(), "alice".to_owned())),
        path_glob: Some("secret/data/prod/*".to_owned()),
        result: Some(Outcome::Success),
        ..all()
    };
    vec![
        (by(Outcome::Failure), None, &["r3", "r9"]),
        (
            by(Outcome::Success),
            None,
            &["r1", "r2", "r4", "r5", "r6", "r7", "r8"],
        ),
        (combined, None, &["r1"]),
    ]
}

#[tokio::test]
async fn no_filter_returns_every_response_oldest_first() {
    check(unfiltered()).await;
}

#[tokio::test]
async fn by_resource() {
    check(resources()).await;
}

#[tokio::test]
async fn by_action() {
    check(actions()).await;
}

#[tokio::test]
async fn by_actor() {
    check(actors()).await;
}

#[tokio::test]
async fn by_path_glob() {
    check(path_globs()).await;
}

#[tokio::test]
async fn by_time() {
    check(times()).await;
}

#[tokio::test]
async fn by_result_and_combined() {
    check(results_and_combined()).await;
}

#[tokio::test]
async fn summaries_are_the_summaries_of_the_queried_records() {
    let log = log().await;
    for (filter, limit, expected) in every_case() {
        let records = query(Cursor::new(&log), &filter, limit).expect("a valid log");
        let derived: Vec<AuditSummary> = records.iter().map(AuditSummary::of).collect();
        let found = summaries(Cursor::new(&log), &filter, limit).expect("a valid log");
        assert_eq!(found, derived, "{filter:?} limit {limit:?}");
        let found_ids: Vec<&str> = found
            .iter()
            .filter_map(|s| s.request_id.as_deref())
            .collect();
        assert_eq!(found_ids, expected, "{filter:?} limit {limit:?}");
    }
}

#[tokio::test]
async fn malformed_lines_are_errors_except_a_torn_last_line() {
    let mut text = log().await.to_vec();
    text.extend_from_slice(b"{\"type\":\"response\",\"request\":{\"id\":\"r1");
    let found = query(Cursor::new(&text), &all(), None).expect("a torn last line is skipped");
    assert_eq!(found.len(), 9);

    let mut text = b"garbage\n".to_vec();
    text.extend_from_slice(&log().await);
    assert!(matches!(
        query(Cursor::new(&text), &all(), None),
        Err(Error::Malformed { line: 1, .. })
    ));

    let bad_time = b"{\"type\":\"response\",\"time\":\"yesterday\",\"request\":{\"path\":\"a\"}}\n";
    assert!(query(Cursor::new(&bad_time[..]), &all(), None).is_ok());
    assert!(matches!(
        query(
            Cursor::new(&bad_time[..]),
            &Filter {
                since: Some(at(0)),
                ..all()
            },
            None
        ),
        Err(Error::Malformed { line: 1, .. })
    ));
}
