//! AppRole engine tests: role CRUD in Vault's shapes, role IDs (generated and custom), secret
//! IDs (lifetime, use counts, lookup, destruction), login grants, concurrent logins spending a
//! single use, and what the storage holds.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use coffer_barrier::View;
use coffer_core::Operation::{Delete, List, Read, Update};
use coffer_core::engine::{Engine, EngineFactory, MountInfo};
use coffer_engines::approle::{ApproleEngine, ApproleFactory};
use serde_json::{Value, json};

use crate::support::{
    Call, error, fixture, keys, login, mount, no_content, not_found, ok, request, script, view,
};

fn write(path: &str, body: Value) -> Call {
    request(Update, path, body)
}

fn read(path: &str) -> Call {
    request(Read, path, Value::Null)
}

/// A fixed starting time for tests driving the clock.
fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

/// An engine, its mount and a fresh view.
async fn setup() -> (ApproleEngine, MountInfo, View) {
    (ApproleEngine::new(), mount("approle", &[]), view().await)
}

/// Sends `call` and returns the reply's `data`, failing the test on anything else.
async fn data(call: Call, engine: &dyn Engine, mount: &MountInfo, view: &View) -> Value {
    let reply = call.send(engine, mount, view).await;
    match reply.get("data") {
        Some(data) if reply.get("status") == Some(&json!(200)) => data.clone(),
        _ => panic!("expected a reply with data, got {reply}"),
    }
}

/// A field of a reply's data as text.
fn text(data: &Value, field: &str) -> String {
    data.get(field)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{field} is a string in {data}"))
        .to_owned()
}

/// The role ID of `role`.
async fn role_id(role: &str, engine: &dyn Engine, mount: &MountInfo, view: &View) -> String {
    let data = data(read(&format!("role/{role}/role-id")), engine, mount, view).await;
    text(&data, "role_id")
}

/// A new secret ID of `role` (made with `body`): its value and accessor.
async fn secret_id(
    role: &str,
    body: Value,
    engine: &dyn Engine,
    mount: &MountInfo,
    view: &View,
) -> (String, String) {
    let call = write(&format!("role/{role}/secret-id"), body).at(t0());
    let data = data(call, engine, mount, view).await;
    (text(&data, "secret_id"), text(&data, "secret_id_accessor"))
}

fn attempt(role_id: &str, secret_id: &str, now: SystemTime) -> Call {
    write("login", json!({"role_id": role_id, "secret_id": secret_id})).at(now)
}

/// Vault's read shape of a role with defaults, with `changes` merged in.
fn role_shape(changes: Value) -> Value {
    let mut data = json!({
        "bind_secret_id": true, "local_secret_ids": false, "secret_id_bound_cidrs": [],
        "secret_id_num_uses": 0, "secret_id_ttl": 0,
        "token_bound_cidrs": [], "token_explicit_max_ttl": 0, "token_max_ttl": 0,
        "token_no_default_policy": false, "token_num_uses": 0, "token_period": 0,
        "token_policies": [], "token_strictly_bind_ip": false, "token_ttl": 0,
        "token_type": "default"
    });
    if let (Value::Object(data), Value::Object(changes)) = (&mut data, changes) {
        data.extend(changes);
    }
    ok(data, 0)
}

/// The grant of a login through `role` with default token settings, with `changes` merged in.
fn grant(role: &str, changes: Value) -> Value {
    let mut grant = json!({
        "policies": [],
        "identity": {"kind": "agent", "name": role},
        "display_name": "approle",
        "metadata": {"role_name": role},
        "ttl": 0, "max_ttl": 0, "period": 0, "num_uses": 0, "no_default_policy": false,
    });
    if let (Value::Object(grant), Value::Object(changes)) = (&mut grant, changes) {
        grant.extend(changes);
    }
    login(grant)
}

#[tokio::test]
async fn role_crud_has_vaults_shapes() {
    let (engine, mount, view) = setup().await;
    script(
        &engine,
        &mount,
        &view,
        &[
            (request(List, "role", Value::Null), not_found()),
            (
                write(
                    "role/Web",
                    json!({
                        "token_policies": "app,ops", "token_ttl": "1h", "token_max_ttl": "2h",
                        "secret_id_ttl": "10m", "secret_id_num_uses": 5
                    }),
                ),
                no_content(),
            ),
            (
                read("role/web"),
                role_shape(json!({
                    "token_policies": ["app", "ops"], "token_ttl": 3600, "token_max_ttl": 7200,
                    "secret_id_ttl": 600, "secret_id_num_uses": 5
                })),
            ),
            (write("role/api", json!({})), no_content()),
            (read("role/api"), role_shape(json!({}))),
            (request(List, "role", Value::Null), keys(&["api", "web"])),
            // An update keeps what it does not mention.
            (write("role/web", json!({"token_num_uses": 2})), no_content()),
            (
                read("role/web"),
                role_shape(json!({
                    "token_policies": ["app", "ops"], "token_ttl": 3600, "token_max_ttl": 7200,
                    "secret_id_ttl": 600, "secret_id_num_uses": 5, "token_num_uses": 2
                })),
            ),
            (
                write("role/web", json!({"bind_secret_id": false})),
                error("at least one constraint should be enabled on the role"),
            ),
            (
                write("role/web", json!({"secret_id_bound_cidrs": "10.0.0.0/8"})),
                error("secret_id_bound_cidrs is not supported: secret IDs are not bound to client addresses"),
            ),
            (
                write("role/bad name", json!({})),
                error("invalid role_name: use at most 4096 ASCII letters, digits and '_', with '-' and '.' allowed inside"),
            ),
            (request(Delete, "role/api", Value::Null), no_content()),
            (read("role/api"), not_found()),
            (read("role/api/role-id"), not_found()),
            (request(Delete, "role/api", Value::Null), no_content()),
            (request(List, "role/", Value::Null), keys(&["web"])),
            (read("role/web/other"), error("1 error occurred:\n\t* unsupported path\n\n")),
            (read("login"), error("1 error occurred:\n\t* unsupported operation\n\n")),
            (request(List, "role/web", Value::Null), error("1 error occurred:\n\t* unsupported operation\n\n")),
        ],
    )
    .await;
    let id = role_id("web", &engine, &mount, &view).await;
    let parsed = uuid_version(&id);
    assert_eq!(parsed, Some(4), "a generated role ID is a UUID v4: {id}");
}

fn uuid_version(text: &str) -> Option<usize> {
    let parts: Vec<&str> = text.split('-').collect();
    let lengths: Vec<usize> = parts.iter().map(|part| part.len()).collect();
    let hex = text.chars().all(|c| c == '-' || c.is_ascii_hexdigit());
    if lengths != [8, 4, 4, 4, 12] || !hex {
        return None;
    }
    parts
        .get(2)
        .and_then(|part| part.chars().next())
        .and_then(|c| c.to_digit(16))
        .and_then(|digit| usize::try_from(digit).ok())
}

#[tokio::test]
async fn login_with_a_role_id_and_secret_id() {
    let (engine, mount, view) = setup().await;
    let setup = [(
        write(
            "role/web",
            json!({"token_policies": ["app"], "token_ttl": "20m", "token_period": "1h", "token_num_uses": 4}),
        ),
        no_content(),
    )];
    script(&engine, &mount, &view, &setup).await;
    let role = role_id("web", &engine, &mount, &view).await;
    let (secret, _) = secret_id("web", json!({}), &engine, &mount, &view).await;
    let now = t0();
    script(
        &engine,
        &mount,
        &view,
        &[
            (
                attempt(&role, &secret, now),
                grant(
                    "web",
                    json!({"policies": ["app"], "ttl": 1200, "period": 3600, "num_uses": 4}),
                ),
            ),
            // Unlimited uses: it works again.
            (
                attempt(&role, &secret, now),
                grant(
                    "web",
                    json!({"policies": ["app"], "ttl": 1200, "period": 3600, "num_uses": 4}),
                ),
            ),
            (
                attempt("not-a-role-id", &secret, now),
                error("invalid role ID"),
            ),
            (
                attempt(&role, "not-a-secret-id", now),
                error("invalid secret id"),
            ),
            (attempt(&secret, &role, now), error("invalid role ID")),
            (
                write("login", json!({"secret_id": secret})),
                error("missing role_id"),
            ),
            (
                write("login", json!({"role_id": role})),
                error("missing secret_id"),
            ),
            (
                write("login", json!({"role_id": role, "secret_id": ""})),
                error("missing secret_id"),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn secret_ids_of_one_role_do_not_open_another() {
    let (engine, mount, view) = setup().await;
    let setup = [
        (write("role/a", json!({})), no_content()),
        (write("role/b", json!({})), no_content()),
    ];
    script(&engine, &mount, &view, &setup).await;
    let role_a = role_id("a", &engine, &mount, &view).await;
    let (secret_b, accessor_b) = secret_id("b", json!({}), &engine, &mount, &view).await;
    script(
        &engine,
        &mount,
        &view,
        &[
            (
                attempt(&role_a, &secret_b, t0()),
                error("invalid secret id"),
            ),
            (
                write(
                    "role/a/secret-id-accessor/lookup",
                    json!({"secret_id_accessor": accessor_b}),
                ),
                not_found(),
            ),
            (
                write("role/a/secret-id/lookup", json!({"secret_id": secret_b})),
                not_found(),
            ),
            // Destroying through the wrong role does nothing.
            (
                write(
                    "role/a/secret-id-accessor/destroy",
                    json!({"secret_id_accessor": accessor_b}),
                ),
                no_content(),
            ),
            (
                request(List, "role/b/secret-id", Value::Null),
                keys(&[&accessor_b]),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn secret_id_lifetime() {
    let (engine, mount, view) = setup().await;
    let setup = [(
        write("role/web", json!({"secret_id_ttl": "60s"})),
        no_content(),
    )];
    script(&engine, &mount, &view, &setup).await;
    let role = role_id("web", &engine, &mount, &view).await;
    // Made at t0 with the role's 60-second lifetime.
    let (secret, accessor) = secret_id("web", json!({}), &engine, &mount, &view).await;
    let (short, _) = secret_id("web", json!({"ttl": "10s"}), &engine, &mount, &view).await;
    let at = |secs: u64| t0() + Duration::from_secs(secs);
    script(
        &engine,
        &mount,
        &view,
        &[
            (attempt(&role, &secret, at(30)), grant("web", json!({}))),
            (attempt(&role, &short, at(9)), grant("web", json!({}))),
            (attempt(&role, &short, at(10)), error("invalid secret id")),
            (attempt(&role, &secret, at(59)), grant("web", json!({}))),
            (
                write("role/web/secret-id/lookup", json!({"secret_id": secret})).at(at(59)),
                ok(
                    json!({
                        "cidr_list": [],
                        "creation_time": "2027-01-15T08:00:00Z",
                        "expiration_time": "2027-01-15T08:01:00Z",
                        "last_updated_time": "2027-01-15T08:00:00Z",
                        "metadata": {},
                        "secret_id_accessor": accessor,
                        "secret_id_num_uses": 0,
                        "secret_id_ttl": 60,
                        "token_bound_cidrs": []
                    }),
                    0,
                ),
            ),
            (attempt(&role, &secret, at(60)), error("invalid secret id")),
            (
                write("role/web/secret-id/lookup", json!({"secret_id": secret})).at(at(61)),
                not_found(),
            ),
            (
                write("role/web/secret-id", json!({"ttl": "2m"})),
                error("ttl cannot be longer than the role's secret_id_ttl"),
            ),
        ],
    )
    .await;
    // The expired secret IDs presented at login were deleted, accessors included.
    let left = view.scan("", None, 100).await.expect("the view scans");
    let leftovers: Vec<&String> = left
        .iter()
        .filter(|key| key.starts_with("secret_id/") || key.starts_with("accessor/"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn secret_id_use_counts() {
    let (engine, mount, view) = setup().await;
    let setup = [(
        write("role/web", json!({"secret_id_num_uses": 2})),
        no_content(),
    )];
    script(&engine, &mount, &view, &setup).await;
    let role = role_id("web", &engine, &mount, &view).await;
    let (secret, accessor) = secret_id("web", json!({}), &engine, &mount, &view).await;
    let (once, _) = secret_id("web", json!({"num_uses": 1}), &engine, &mount, &view).await;
    let now = t0();
    let lookup = || {
        write(
            "role/web/secret-id-accessor/lookup",
            json!({"secret_id_accessor": accessor}),
        )
    };
    let uses_left = |uses: u32| {
        move |reply: &Value| reply.pointer("/data/secret_id_num_uses") == Some(&json!(uses))
    };
    let reply = lookup().send(&engine, &mount, &view).await;
    assert!(uses_left(2)(&reply), "{reply}");
    script(
        &engine,
        &mount,
        &view,
        &[
            (attempt(&role, &secret, now), grant("web", json!({}))),
            (attempt(&role, &once, now), grant("web", json!({}))),
            (attempt(&role, &once, now), error("invalid secret id")),
        ],
    )
    .await;
    let reply = lookup().send(&engine, &mount, &view).await;
    assert!(uses_left(1)(&reply), "{reply}");
    script(
        &engine,
        &mount,
        &view,
        &[
            (attempt(&role, &secret, now), grant("web", json!({}))),
            (attempt(&role, &secret, now), error("invalid secret id")),
            (lookup(), not_found()),
            (
                request(List, "role/web/secret-id", Value::Null),
                not_found(),
            ),
            (
                write("role/web/secret-id", json!({"num_uses": 3})),
                error("num_uses cannot be higher than the role's secret_id_num_uses"),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn destroyed_secret_ids_stop_working() {
    let (engine, mount, view) = setup().await;
    let setup = [(write("role/web", json!({})), no_content())];
    script(&engine, &mount, &view, &setup).await;
    let role = role_id("web", &engine, &mount, &view).await;
    let (first, _) = secret_id("web", json!({}), &engine, &mount, &view).await;
    let (second, second_accessor) = secret_id(
        "web",
        json!({"metadata": "{\"host\": \"db-1\"}"}),
        &engine,
        &mount,
        &view,
    )
    .await;
    let (third, _) = secret_id("web", json!({}), &engine, &mount, &view).await;
    let listed = data(
        request(List, "role/web/secret-id/", Value::Null),
        &engine,
        &mount,
        &view,
    )
    .await;
    let listed = listed
        .get("keys")
        .and_then(Value::as_array)
        .map(|keys| keys.len());
    assert_eq!(listed, Some(3));
    let lookup = data(
        write(
            "role/web/secret-id-accessor/lookup",
            json!({"secret_id_accessor": second_accessor}),
        ),
        &engine,
        &mount,
        &view,
    )
    .await;
    assert_eq!(lookup.get("metadata"), Some(&json!({"host": "db-1"})));
    assert!(
        !lookup.to_string().contains(&second),
        "a lookup never shows the secret ID"
    );
    let now = t0();
    script(
        &engine,
        &mount,
        &view,
        &[
            (
                write("role/web/secret-id/destroy", json!({"secret_id": first})),
                no_content(),
            ),
            (attempt(&role, &first, now), error("invalid secret id")),
            (
                write(
                    "role/web/secret-id-accessor/destroy",
                    json!({"secret_id_accessor": second_accessor}),
                ),
                no_content(),
            ),
            (attempt(&role, &second, now), error("invalid secret id")),
            (
                request(
                    Delete,
                    "role/web/secret-id/destroy",
                    json!({"secret_id": third}),
                ),
                no_content(),
            ),
            (attempt(&role, &third, now), error("invalid secret id")),
            // Destroying twice, or something unknown, is fine.
            (
                write("role/web/secret-id/destroy", json!({"secret_id": first})),
                no_content(),
            ),
            (
                write(
                    "role/web/secret-id-accessor/destroy",
                    json!({"secret_id_accessor": "nope"}),
                ),
                no_content(),
            ),
            (
                write("role/web/secret-id/destroy", json!({})),
                error("missing secret_id"),
            ),
            (
                write("role/web/secret-id-accessor/lookup", json!({})),
                error("missing secret_id_accessor"),
            ),
            (
                request(List, "role/web/secret-id", Value::Null),
                not_found(),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn custom_role_ids() {
    let (engine, mount, view) = setup().await;
    let setup = [
        (write("role/web", json!({})), no_content()),
        (
            write("role/api", json!({"role_id": "api-role-id"})),
            no_content(),
        ),
    ];
    script(&engine, &mount, &view, &setup).await;
    let generated = role_id("web", &engine, &mount, &view).await;
    assert_eq!(role_id("api", &engine, &mount, &view).await, "api-role-id");
    let (secret, _) = secret_id("web", json!({}), &engine, &mount, &view).await;
    let (api_secret, _) = secret_id("api", json!({}), &engine, &mount, &view).await;
    let now = t0();
    script(
        &engine,
        &mount,
        &view,
        &[
            (
                write("role/web/role-id", json!({"role_id": "my-custom-id"})),
                no_content(),
            ),
            (
                read("role/web/role-id"),
                ok(json!({"role_id": "my-custom-id"}), 0),
            ),
            (attempt(&generated, &secret, now), error("invalid role ID")),
            (
                attempt("my-custom-id", &secret, now),
                grant("web", json!({})),
            ),
            (
                attempt("api-role-id", &api_secret, now),
                grant("api", json!({})),
            ),
            // Role IDs are unique across the mount.
            (
                write("role/api/role-id", json!({"role_id": "my-custom-id"})),
                error("role_id already in use"),
            ),
            (
                write("role/other", json!({"role_id": "api-role-id"})),
                error("role_id already in use"),
            ),
            (read("role/other"), not_found()),
            // Setting the same role ID again changes nothing.
            (
                write("role/web/role-id", json!({"role_id": "my-custom-id"})),
                no_content(),
            ),
            (
                attempt("my-custom-id", &secret, now),
                grant("web", json!({})),
            ),
            (
                write("role/web/role-id", json!({})),
                error("missing role_id"),
            ),
            (
                write("role/ghost/role-id", json!({"role_id": "x"})),
                error("role \"ghost\" does not exist"),
            ),
            (read("role/ghost"), not_found()),
            // Once its role is deleted, a role ID is free again.
            (request(Delete, "role/web", Value::Null), no_content()),
            (
                attempt("my-custom-id", &secret, now),
                error("invalid role ID"),
            ),
            (
                write("role/api/role-id", json!({"role_id": "my-custom-id"})),
                no_content(),
            ),
            (
                attempt("my-custom-id", &api_secret, now),
                grant("api", json!({})),
            ),
            (
                attempt("api-role-id", &api_secret, now),
                error("invalid role ID"),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn deleting_a_role_removes_everything_it_owned() {
    let fixture = fixture().await;
    let engine = ApproleEngine::new();
    let mount = mount("approle", &[]);
    let view = &fixture.view;
    let setup = [(write("role/web", json!({})), no_content())];
    script(&engine, &mount, view, &setup).await;
    let role = role_id("web", &engine, &mount, view).await;
    let mut secrets = Vec::new();
    for _ in 0..3 {
        secrets.push(secret_id("web", json!({}), &engine, &mount, view).await.0);
    }
    let reply = request(Delete, "role/web", Value::Null)
        .send(&engine, &mount, view)
        .await;
    assert_eq!(reply, no_content());
    let left = view.scan("", None, 100).await.expect("the view scans");
    assert_eq!(left, ["salt"]);
    // A role created again under the same name is a new role: the old credentials are dead.
    let again = [(write("role/web", json!({"role_id": role})), no_content())];
    script(&engine, &mount, view, &again).await;
    for secret in &secrets {
        let reply = attempt(&role, secret, t0())
            .send(&engine, &mount, view)
            .await;
        assert_eq!(reply, error("invalid secret id"));
    }
    let reply = write("role/nobody/secret-id", json!({}))
        .send(&engine, &mount, view)
        .await;
    assert_eq!(reply, error("role \"nobody\" does not exist"));
    let reply = request(List, "role/nobody/secret-id", Value::Null)
        .send(&engine, &mount, view)
        .await;
    assert_eq!(reply, not_found());
}

#[tokio::test]
async fn storage_never_holds_credentials_in_clear() {
    let fixture = fixture().await;
    let engine = ApproleEngine::new();
    let mount = mount("approle", &[]);
    let view = &fixture.view;
    let setup = [(write("role/web", json!({})), no_content())];
    script(&engine, &mount, view, &setup).await;
    let role = role_id("web", &engine, &mount, view).await;
    let (secret, accessor) = secret_id("web", json!({}), &engine, &mount, view).await;
    let paths = view.scan("", None, 100).await.expect("the view scans");
    assert_eq!(paths.len(), 5, "{paths:?}");
    for path in &paths {
        for credential in [&role, &secret, &accessor] {
            assert!(
                !path.contains(credential.as_str()),
                "{path} names a credential"
            );
        }
        let value = view
            .get(path)
            .await
            .expect("the view reads")
            .expect("listed paths exist");
        let value = String::from_utf8_lossy(&value);
        assert!(
            !value.contains(secret.as_str()),
            "{path} holds the secret ID"
        );
    }
    assert!(paths.iter().any(|path| path == "role/web"));
    assert!(paths.iter().any(|path| path.starts_with("role_id/")));
    assert!(paths.iter().any(|path| path.starts_with("secret_id/")));
    assert!(paths.iter().any(|path| path.starts_with("accessor/")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_logins_spend_a_single_use_once() {
    let (engine, mount, view) = setup().await;
    let engine = Arc::new(engine);
    let setup = [(write("role/web", json!({})), no_content())];
    script(engine.as_ref(), &mount, &view, &setup).await;
    let role = role_id("web", engine.as_ref(), &mount, &view).await;
    for round in 0..5 {
        let (secret, _) = secret_id(
            "web",
            json!({"num_uses": 1}),
            engine.as_ref(),
            &mount,
            &view,
        )
        .await;
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let (engine, mount, view) = (Arc::clone(&engine), mount.clone(), view.clone());
                let call = attempt(&role, &secret, t0());
                tokio::spawn(async move { call.send(engine.as_ref(), &mount, &view).await })
            })
            .collect();
        let mut wins = 0;
        for task in tasks {
            let reply = task.await.expect("the login task does not panic");
            if reply == grant("web", json!({})) {
                wins += 1;
            } else {
                assert_eq!(reply, error("invalid secret id"), "round {round}");
            }
        }
        assert_eq!(
            wins, 1,
            "round {round}: exactly one login spends the single use"
        );
    }
}

#[tokio::test]
async fn existence_check_and_factory() {
    let view = view().await;
    let mount = mount("approle", &[]);
    let engine = ApproleFactory
        .build(&mount)
        .expect("an approle mount builds");
    let setup = [(write("role/web", json!({})), no_content())];
    script(engine.as_ref(), &mount, &view, &setup).await;
    for (path, expect) in [
        ("role/web", Some(true)),
        ("role/WEB", Some(true)),
        ("role/api", Some(false)),
        ("role/bad name", Some(false)),
        ("role/web/secret-id", None),
        ("login", None),
    ] {
        let got = write(path, json!({}))
            .exists(engine.as_ref(), &mount, &view)
            .await
            .expect("the check reads storage");
        assert_eq!(got, expect, "{path}");
    }
    engine
        .token_revoked("scope", &view)
        .await
        .expect("nothing belongs to tokens");
}
