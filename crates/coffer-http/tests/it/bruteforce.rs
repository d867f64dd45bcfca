//! A userpass brute force on the manual clock: a thousand wrong passwords against one user, sent
//! sixteen at a time while another user keeps logging in, lock the attacked user (with the same
//! 400 as a wrong password, even for the right one) without ever affecting the other user; the
//! lock ends exactly `lockout_duration` later.

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::support::{Node, send};

/// Vault's default `lockout_duration`, which a userpass mount gets without options.
const LOCKOUT: Duration = Duration::from_secs(15 * 60);

const ATTEMPTS: usize = 1_000;
const CONCURRENCY: usize = 16;

const VICTIM_PASSWORD: &str = "victim-right-password";
const BYSTANDER_PASSWORD: &str = "bystander-password";

/// Who sent a login, and what came back.
#[derive(Debug)]
enum Outcome {
    Attack(StatusCode, Value),
    Bystander(StatusCode, Value),
}

async fn login(app: &Router, user: &str, password: &str) -> (StatusCode, Value) {
    let (status, _, body) = send(
        app,
        "PUT",
        &format!("/v1/auth/userpass/login/{user}"),
        None,
        Some(json!({ "password": password })),
    )
    .await;
    (status, body)
}

fn invalid_credentials() -> Value {
    json!({"errors": ["invalid username or password"]})
}

/// Asserts a successful login that issued a token for `user`.
fn assert_logged_in(user: &str, (status, body): &(StatusCode, Value)) {
    assert_eq!(*status, StatusCode::OK, "{user} logs in: {body}");
    assert_eq!(
        body["auth"]["metadata"]["username"],
        json!(user),
        "{user}: {body}"
    );
    assert!(body["auth"]["client_token"].is_string(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_4_userpass_brute_force_locks_only_the_attacked_user() {
    let node = Node::unsealed().await;
    let root = Some(node.root.as_str());
    let setup = [
        ("/v1/sys/auth/userpass", json!({"type": "userpass"})),
        (
            "/v1/auth/userpass/users/victim",
            json!({"password": VICTIM_PASSWORD}),
        ),
        (
            "/v1/auth/userpass/users/bystander",
            json!({"password": BYSTANDER_PASSWORD}),
        ),
    ];
    for (path, body) in setup {
        let (status, _, reply) = node.send("POST", path, root, Some(body)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{path}: {reply}");
    }
    assert_logged_in("victim", &login(&node.app, "victim", VICTIM_PASSWORD).await);

    // The attack: batches of sixteen wrong passwords, each batch running alongside one login of
    // the bystander.
    let mut outcomes = Vec::with_capacity(ATTEMPTS + ATTEMPTS / CONCURRENCY + 1);
    let mut sent = 0;
    while sent < ATTEMPTS {
        let mut batch = JoinSet::new();
        let app = node.app.clone();
        batch.spawn(async move {
            let (status, body) = login(&app, "bystander", BYSTANDER_PASSWORD).await;
            Outcome::Bystander(status, body)
        });
        for _ in 0..CONCURRENCY.min(ATTEMPTS - sent) {
            let app = node.app.clone();
            let guess = format!("guess-{sent}");
            sent += 1;
            batch.spawn(async move {
                let (status, body) = login(&app, "victim", &guess).await;
                Outcome::Attack(status, body)
            });
        }
        outcomes.extend(batch.join_all().await);
    }

    let mut attacks = 0;
    let mut bystander_logins = 0;
    for outcome in &outcomes {
        match outcome {
            Outcome::Attack(status, body) => {
                attacks += 1;
                assert_eq!(
                    (*status, body),
                    (StatusCode::BAD_REQUEST, &invalid_credentials()),
                    "every wrong password gets the same 400"
                );
            }
            Outcome::Bystander(status, body) => {
                bystander_logins += 1;
                assert_logged_in("bystander", &(*status, body.clone()));
            }
        }
    }
    assert_eq!(attacks, ATTEMPTS);
    assert_eq!(bystander_logins, ATTEMPTS.div_ceil(CONCURRENCY));

    // Locked: the right password gets exactly what a wrong one gets; the bystander is unaffected.
    assert_eq!(
        login(&node.app, "victim", VICTIM_PASSWORD).await,
        (StatusCode::BAD_REQUEST, invalid_credentials()),
        "the attacked user is locked"
    );
    assert_logged_in(
        "bystander",
        &login(&node.app, "bystander", BYSTANDER_PASSWORD).await,
    );

    // The clock never moved during the attack, so the lock ends exactly LOCKOUT from now.
    node.clock.advance(LOCKOUT - Duration::from_secs(1));
    assert_eq!(
        login(&node.app, "victim", VICTIM_PASSWORD).await,
        (StatusCode::BAD_REQUEST, invalid_credentials()),
        "still locked one second before the lock ends"
    );
    node.clock.advance(Duration::from_secs(1));
    let unlocked = login(&node.app, "victim", VICTIM_PASSWORD).await;
    assert_logged_in("victim", &unlocked);
    let token = unlocked.1["auth"]["client_token"]
        .as_str()
        .expect("a client token")
        .to_owned();
    assert_eq!(
        node.lookup_self(&token).await["meta"]["username"],
        json!("victim"),
        "the token issued after the lock works"
    );
}
