//! Userpass engine tests: user CRUD in Vault's shapes, login grants, one answer for unknown
//! users and wrong passwords, password changes, and brute-force lockout driven by a manual
//! clock (counting password hashes to show locked logins skip them).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use coffer_core::Operation::{Delete, List, Patch, Read, Update};
use coffer_core::engine::EngineFactory;
use coffer_engines::userpass::{UserpassEngine, UserpassFactory};
use serde_json::{Value, json};

use crate::support::{
    Call, error, fixture, keys, login, mount, no_content, not_found, ok, request, script, view,
};

const INVALID: &str = "invalid username or password";

/// A userpass engine on a mount with `options`.
fn engine(options: &[(&str, &str)]) -> UserpassEngine {
    UserpassEngine::new(&mount("userpass", options)).expect("the mount options are valid")
}

fn write(path: &str, body: Value) -> Call {
    request(Update, path, body)
}

fn read(path: &str) -> Call {
    request(Read, path, Value::Null)
}

/// A login of `user` with `password` at `now`.
fn attempt(user: &str, password: &str, now: SystemTime) -> Call {
    write(&format!("login/{user}"), json!({ "password": password })).at(now)
}

/// A fixed starting time for tests driving the clock.
fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

/// Vault's read shape of a user with default token settings, with `changes` merged in.
fn user_shape(changes: Value) -> Value {
    let mut data = json!({
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

/// The grant of a login as `name` with default token settings, with `changes` merged in.
fn grant(name: &str, changes: Value) -> Value {
    let mut grant = json!({
        "policies": [],
        "identity": {"kind": "user", "name": name},
        "display_name": format!("userpass-{name}"),
        "metadata": {"username": name},
        "ttl": 0, "max_ttl": 0, "period": 0, "num_uses": 0, "no_default_policy": false,
    });
    if let (Value::Object(grant), Value::Object(changes)) = (&mut grant, changes) {
        grant.extend(changes);
    }
    login(grant)
}

#[tokio::test]
async fn user_crud_has_vaults_shapes() {
    let view = view().await;
    let engine = engine(&[]);
    script(
        &engine,
        &mount("userpass", &[]),
        &view,
        &[
            (request(List, "users", Value::Null), not_found()),
            (
                write(
                    "users/alice",
                    json!({"password": "pw123", "token_policies": "app-rw", "token_ttl": "1h", "token_max_ttl": "4h"}),
                ),
                no_content(),
            ),
            (
                read("users/alice"),
                user_shape(
                    json!({"token_policies": ["app-rw"], "token_ttl": 3600, "token_max_ttl": 14400}),
                ),
            ),
            // Usernames are lowercased.
            (write("users/Bob", json!({"password": "pw", "policies": ["legacy"]})), no_content()),
            // Set through the legacy field, the policies are shown under it too, as in Vault.
            (
                read("users/BOB"),
                user_shape(json!({"token_policies": ["legacy"], "policies": ["legacy"]})),
            ),
            (request(List, "users", Value::Null), keys(&["alice", "bob"])),
            (request(List, "users/", Value::Null), keys(&["alice", "bob"])),
            // An update without a password keeps the stored one and what it does not mention.
            (write("users/alice", json!({"token_num_uses": 3})), no_content()),
            (
                read("users/alice"),
                user_shape(json!({
                    "token_policies": ["app-rw"], "token_ttl": 3600, "token_max_ttl": 14400,
                    "token_num_uses": 3
                })),
            ),
            (
                write("users/alice/policies", json!({"token_policies": ["a", "b"]})),
                no_content(),
            ),
            (
                read("users/alice"),
                user_shape(json!({
                    "token_policies": ["a", "b"], "token_ttl": 3600, "token_max_ttl": 14400,
                    "token_num_uses": 3
                })),
            ),
            (write("users/alice/policies", json!({"policies": "c"})), no_content()),
            (
                read("users/alice"),
                user_shape(json!({
                    "token_policies": ["c"], "policies": ["c"], "token_ttl": 3600,
                    "token_max_ttl": 14400, "token_num_uses": 3
                })),
            ),
            (request(Delete, "users/bob", Value::Null), no_content()),
            (read("users/bob"), not_found()),
            (request(Delete, "users/bob", Value::Null), no_content()),
            (request(List, "users", Value::Null), keys(&["alice"])),
        ],
    )
    .await;
}

#[tokio::test]
async fn refused_requests() {
    let view = view().await;
    let engine = engine(&[]);
    let bad_name = "invalid username: a username has ASCII letters, digits and '_', with '-', '.' and '@' allowed inside";
    script(
        &engine,
        &mount("userpass", &[]),
        &view,
        &[
            (
                write("users/carol", json!({"token_ttl": "1h"})),
                error("missing password"),
            ),
            (
                write("users/carol", json!({"password": ""})),
                error("missing password"),
            ),
            (read("users/carol"), not_found()),
            (
                write("users/carol/password", json!({"password": "x"})),
                error("username does not exist"),
            ),
            (
                write("users/carol/policies", json!({"token_policies": "x"})),
                error("username does not exist"),
            ),
            (
                write("users/-x", json!({"password": "pw"})),
                error(bad_name),
            ),
            (read("users/a b"), error(bad_name)),
            (
                write(
                    "users/carol",
                    json!({"password": "pw", "token_ttl": "2h", "token_max_ttl": "1h"}),
                ),
                error("\"token_ttl\" cannot be greater than \"token_max_ttl\""),
            ),
            (
                write(
                    "users/carol",
                    json!({"password": "pw", "token_bound_cidrs": ["10.0.0.0/8"]}),
                ),
                error(
                    "token_bound_cidrs is not supported: tokens are not bound to client addresses",
                ),
            ),
            (
                write("users/carol", json!({"password": ["pw"]})),
                error(
                    "error converting input for field \"password\": expected a string, got array",
                ),
            ),
            (read("users/carol"), not_found()),
            (
                request(Patch, "users/carol", json!({"password": "pw"})),
                error("1 error occurred:\n\t* unsupported operation\n\n"),
            ),
            (
                read("login/carol"),
                error("1 error occurred:\n\t* unsupported operation\n\n"),
            ),
            (
                read("config"),
                error("1 error occurred:\n\t* unsupported path\n\n"),
            ),
            (
                read("users/carol/other"),
                error("1 error occurred:\n\t* unsupported path\n\n"),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn passwords_are_stored_only_as_argon2id_hashes() {
    let fixture = fixture().await;
    let engine = engine(&[]);
    let mount = mount("userpass", &[]);
    let reply = write("users/alice", json!({"password": "correct horse"}))
        .send(&engine, &mount, &fixture.view)
        .await;
    assert_eq!(reply, no_content());
    let record = fixture
        .view
        .get("user/alice")
        .await
        .expect("the view reads")
        .expect("the user is stored at user/<name>");
    let text = String::from_utf8_lossy(&record);
    assert!(
        !text.contains("correct horse"),
        "no plaintext password at rest"
    );
    assert!(
        text.contains("$argon2id$v=19$m=19456,t=2,p=1$"),
        "an argon2id PHC string"
    );
    // A second user with the same password gets a different salt, hence a different hash.
    let reply = write("users/bob", json!({"password": "correct horse"}))
        .send(&engine, &mount, &fixture.view)
        .await;
    assert_eq!(reply, no_content());
    let other = fixture
        .view
        .get("user/bob")
        .await
        .expect("the view reads")
        .expect("stored");
    assert_ne!(record.as_slice(), other.as_slice());
}

#[tokio::test]
async fn login_grants_carry_the_users_token_settings() {
    let view = view().await;
    let engine = engine(&[]);
    let now = t0();
    script(
        &engine,
        &mount("userpass", &[]),
        &view,
        &[
            (
                write(
                    "users/alice",
                    json!({
                        "password": "pw123", "token_policies": ["app-rw", "ops"],
                        "token_ttl": "1h", "token_max_ttl": "4h", "token_period": "30m",
                        "token_num_uses": 7, "token_no_default_policy": true
                    }),
                ),
                no_content(),
            ),
            (
                attempt("alice", "pw123", now),
                grant(
                    "alice",
                    json!({
                        "policies": ["app-rw", "ops"], "ttl": 3600, "max_ttl": 14400,
                        "period": 1800, "num_uses": 7, "no_default_policy": true
                    }),
                ),
            ),
            // The username in the login path is lowercased too.
            (
                attempt("ALICE", "pw123", now),
                grant(
                    "alice",
                    json!({
                        "policies": ["app-rw", "ops"], "ttl": 3600, "max_ttl": 14400,
                        "period": 1800, "num_uses": 7, "no_default_policy": true
                    }),
                ),
            ),
            (write("users/bob", json!({"password": "x"})), no_content()),
            (attempt("bob", "x", now), grant("bob", json!({}))),
            (
                write("login/bob", json!({})).at(now),
                error("missing password"),
            ),
            (
                write("login/bob", json!({"password": ""})).at(now),
                error("missing password"),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn unknown_users_and_wrong_passwords_look_the_same() {
    let view = view().await;
    let engine = engine(&[]);
    let mount = mount("userpass", &[]);
    let now = t0();
    let reply = write("users/alice", json!({"password": "pw123"}))
        .send(&engine, &mount, &view)
        .await;
    assert_eq!(reply, no_content());
    let before = engine.password_hash_count();
    for (user, password) in [
        ("alice", "wrong"),
        ("nobody", "pw123"),
        ("-invalid-", "pw123"),
    ] {
        let reply = attempt(user, password, now)
            .send(&engine, &mount, &view)
            .await;
        assert_eq!(reply, error(INVALID), "{user}");
    }
    // Each of them cost exactly one password hash: existence does not change the work done.
    assert_eq!(engine.password_hash_count() - before, 3);
}

#[tokio::test]
async fn changing_a_password() {
    let view = view().await;
    let engine = engine(&[]);
    let now = t0();
    script(
        &engine,
        &mount("userpass", &[]),
        &view,
        &[
            (
                write(
                    "users/alice",
                    json!({"password": "old", "token_policies": "p"}),
                ),
                no_content(),
            ),
            (
                write("users/alice/password", json!({"password": "new"})),
                no_content(),
            ),
            (attempt("alice", "old", now), error(INVALID)),
            (
                attempt("alice", "new", now),
                grant("alice", json!({"policies": ["p"]})),
            ),
            // Setting the password through the user endpoint works as well and keeps settings.
            (
                write("users/alice", json!({"password": "newer"})),
                no_content(),
            ),
            (attempt("alice", "new", now), error(INVALID)),
            (
                attempt("alice", "newer", now),
                grant("alice", json!({"policies": ["p"]})),
            ),
            (
                write("users/alice/password", json!({})),
                error("missing password"),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn lockout_after_the_threshold_until_the_duration_passes() {
    let view = view().await;
    let engine = engine(&[]);
    let mount = mount("userpass", &[]);
    let now = t0();
    let second = |n: u64| now + Duration::from_secs(n);
    let setup = [
        (
            write("users/alice", json!({"password": "pw-a"})),
            no_content(),
        ),
        (
            write("users/bob", json!({"password": "pw-b"})),
            no_content(),
        ),
    ];
    script(&engine, &mount, &view, &setup).await;
    // Five failures (the default threshold) within the window lock alice.
    for n in 0..5 {
        let reply = attempt("alice", "guess", second(n))
            .send(&engine, &mount, &view)
            .await;
        assert_eq!(reply, error(INVALID), "failure {n}");
    }
    let hashes = engine.password_hash_count();
    script(
        &engine,
        &mount,
        &view,
        &[
            // Even the right password is refused while locked, with the same message.
            (attempt("alice", "pw-a", second(10)), error(INVALID)),
            (attempt("alice", "pw-a", second(4 + 899)), error(INVALID)),
        ],
    )
    .await;
    assert_eq!(
        engine.password_hash_count(),
        hashes,
        "locked logins do not hash"
    );
    script(
        &engine,
        &mount,
        &view,
        &[
            // Another user is not affected.
            (attempt("bob", "pw-b", second(20)), grant("bob", json!({}))),
            // Fifteen minutes after the lock, alice may log in again.
            (
                attempt("alice", "pw-a", second(4 + 900)),
                grant("alice", json!({})),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_thousand_attempts_against_a_locked_user_never_hash() {
    let view = view().await;
    let engine = engine(&[("lockout_threshold", "3")]);
    let mount = mount("userpass", &[("lockout_threshold", "3")]);
    let now = t0();
    let reply = write("users/alice", json!({"password": "pw"}))
        .send(&engine, &mount, &view)
        .await;
    assert_eq!(reply, no_content());
    for _ in 0..3 {
        let reply = attempt("alice", "guess", now)
            .send(&engine, &mount, &view)
            .await;
        assert_eq!(reply, error(INVALID));
    }
    let hashes = engine.password_hash_count();
    for n in 0..1000 {
        let password = if n % 2 == 0 { "pw" } else { "guess" };
        let reply = attempt("alice", password, now + Duration::from_millis(n))
            .send(&engine, &mount, &view)
            .await;
        assert_eq!(reply, error(INVALID), "attempt {n}");
    }
    assert_eq!(
        engine.password_hash_count(),
        hashes,
        "every locked attempt was refused before hashing"
    );
}

#[tokio::test]
async fn success_and_the_counter_window_reset_the_count() {
    let view = view().await;
    let options = [("lockout_threshold", "3"), ("lockout_counter_reset", "1m")];
    let engine = engine(&options);
    let mount = mount("userpass", &options);
    let now = t0();
    let second = |n: u64| now + Duration::from_secs(n);
    script(
        &engine,
        &mount,
        &view,
        &[
            (
                write("users/alice", json!({"password": "pw"})),
                no_content(),
            ),
            (attempt("alice", "x", second(0)), error(INVALID)),
            (attempt("alice", "x", second(1)), error(INVALID)),
            // A success clears the two failures.
            (attempt("alice", "pw", second(2)), grant("alice", json!({}))),
            (attempt("alice", "x", second(3)), error(INVALID)),
            (attempt("alice", "x", second(4)), error(INVALID)),
            // More than a minute after the last failure, the count starts again.
            (attempt("alice", "x", second(65)), error(INVALID)),
            (attempt("alice", "x", second(66)), error(INVALID)),
            (
                attempt("alice", "pw", second(67)),
                grant("alice", json!({})),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn unknown_users_lock_like_real_ones() {
    let view = view().await;
    let engine = engine(&[("lockout_threshold", "2")]);
    let mount = mount("userpass", &[("lockout_threshold", "2")]);
    let now = t0();
    for _ in 0..2 {
        let reply = attempt("ghost", "x", now)
            .send(&engine, &mount, &view)
            .await;
        assert_eq!(reply, error(INVALID));
    }
    let hashes = engine.password_hash_count();
    let reply = attempt("ghost", "x", now)
        .send(&engine, &mount, &view)
        .await;
    assert_eq!(reply, error(INVALID));
    assert_eq!(
        engine.password_hash_count(),
        hashes,
        "an unknown user is locked too, so lockout does not reveal who exists"
    );
}

#[tokio::test]
async fn lockout_can_be_disabled() {
    let view = view().await;
    let engine = engine(&[("lockout_threshold", "0")]);
    let mount = mount("userpass", &[("lockout_threshold", "0")]);
    let now = t0();
    let mut steps = vec![(
        write("users/alice", json!({"password": "pw"})),
        no_content(),
    )];
    steps.extend((0..8).map(|_| (attempt("alice", "x", now), error(INVALID))));
    steps.push((attempt("alice", "pw", now), grant("alice", json!({}))));
    script(&engine, &mount, &view, &steps).await;
}

#[tokio::test]
async fn existence_check() {
    let view = view().await;
    let engine = engine(&[]);
    let mount = mount("userpass", &[]);
    let reply = write("users/alice", json!({"password": "pw"}))
        .send(&engine, &mount, &view)
        .await;
    assert_eq!(reply, no_content());
    let exists = |path: &str| write(path, json!({}));
    for (path, expect) in [
        ("users/alice", Some(true)),
        ("users/ALICE", Some(true)),
        ("users/bob", Some(false)),
        ("users/-bad", Some(false)),
        ("users/alice/password", None),
        ("login/alice", None),
        ("users", None),
    ] {
        let got = exists(path)
            .exists(&engine, &mount, &view)
            .await
            .expect("the check reads storage");
        assert_eq!(got, expect, "{path}");
    }
}

#[tokio::test]
async fn factory_builds_the_engine_and_checks_options() {
    let view = view().await;
    let mount = mount("userpass", &[("lockout_threshold", "1")]);
    let engine = UserpassFactory
        .build(&mount)
        .expect("a userpass mount builds");
    script(
        engine.as_ref(),
        &mount,
        &view,
        &[
            (
                write("users/alice", json!({"password": "pw"})),
                no_content(),
            ),
            (attempt("alice", "x", t0()), error(INVALID)),
            // A threshold of one: locked after a single failure.
            (attempt("alice", "pw", t0()), error(INVALID)),
        ],
    )
    .await;
    let bad = UserpassFactory
        .build(&crate::support::mount(
            "userpass",
            &[("lockout_duration", "forever")],
        ))
        .map(|_| ())
        .map_err(|e| e.to_string());
    assert_eq!(
        bad,
        Err("invalid lockout_duration: invalid duration \"forever\": expected a number".to_owned())
    );
    engine
        .token_revoked("scope", &view)
        .await
        .expect("nothing belongs to tokens");
}
