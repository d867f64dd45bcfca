//! The database secrets engine over HTTP with the manual clock, against the real local
//! PostgreSQL (trust auth, so a login proves the role exists) and MariaDB (passwords checked):
//! dynamic credentials whose lease ends (revoked, expired and reaped, the identity kill switch)
//! drop the user; renewals capped by `max_ttl` and extending the user's `VALID UNTIL`; static roles rotated on the reminder pass;
//! failures (unreachable database, a failing `CREATE ROLE`) hand out no lease; config passwords
//! are never read back.

use std::process::Command;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::Node;

const PG_URL: &str = "postgresql://{{username}}:{{password}}@127.0.0.1:5432/test";
const MYSQL_DSN: &str = "{{username}}:{{password}}@tcp(127.0.0.1:3306)/";

/// A name unique to this test process (tests run in parallel).
fn unique(prefix: &str) -> String {
    format!("{prefix}{}", std::process::id())
}

fn psql(sql: &str) -> String {
    let output = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "test",
            "-Atc",
            sql,
        ])
        .output()
        .expect("run psql");
    assert!(
        output.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn pg_role_exists(name: &str) -> bool {
    psql(&format!(
        "SELECT count(*) FROM pg_roles WHERE rolname = '{name}'"
    )) == "1"
}

fn pg_can_login(user: &str, password: &str) -> bool {
    Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            user,
            "-d",
            "test",
            "-Atc",
            "SELECT 1",
        ])
        .env("PGPASSWORD", password)
        .output()
        .expect("run psql")
        .status
        .success()
}

fn mysql_root(sql: &str) -> String {
    let output = Command::new("mysql")
        .args(["-h127.0.0.1", "-P3306", "-uroot", "-N", "-e", sql])
        .output()
        .expect("run mysql");
    assert!(
        output.status.success(),
        "mysql {sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn mysql_can_login(user: &str, password: &str) -> bool {
    Command::new("mysql")
        .args([
            "-h127.0.0.1",
            "-P3306",
            &format!("-u{user}"),
            "-e",
            "SELECT 1",
        ])
        .env("MYSQL_PWD", password)
        .output()
        .expect("run mysql")
        .status
        .success()
}

async fn write(node: &Node, path: &str, body: Value) -> (StatusCode, Value) {
    let (status, _, reply) = node
        .send("POST", &format!("/v1/{path}"), Some(&node.root), Some(body))
        .await;
    (status, reply)
}

async fn write_ok(node: &Node, path: &str, body: Value) {
    let (status, reply) = write(node, path, body).await;
    assert!(status.is_success(), "write {path}: {status} {reply}");
}

async fn read(node: &Node, path: &str) -> (StatusCode, Value) {
    let (status, _, reply) = node
        .send("GET", &format!("/v1/{path}"), Some(&node.root), None)
        .await;
    (status, reply)
}

async fn mount(node: &Node, path: &str) {
    write_ok(
        node,
        &format!("sys/mounts/{path}"),
        json!({"type": "database"}),
    )
    .await;
}

fn error_text(reply: &Value) -> String {
    reply["errors"].to_string()
}

#[tokio::test]
async fn issue_10_postgres_leases_drop_their_users() {
    let node = Node::unsealed().await;
    mount(&node, "database").await;
    let role = unique("app");
    write_ok(
        &node,
        "database/config/pg",
        json!({
            "plugin_name": "postgresql-database-plugin",
            "connection_url": PG_URL,
            "username": "postgres",
            "password": "config-secret-value",
            "allowed_roles": role,
        }),
    )
    .await;
    let (status, config) = read(&node, "database/config/pg").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(config["data"]["plugin_name"], "postgresql-database-plugin");
    assert_eq!(config["data"]["connection_details"]["username"], "postgres");
    assert_eq!(config["data"]["allowed_roles"], json!([role]));
    assert!(
        !config.to_string().contains("config-secret-value"),
        "the password is never read back: {config}"
    );
    write_ok(
        &node,
        &format!("database/roles/{role}"),
        json!({
            "db_name": "pg",
            "creation_statements": "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}'; GRANT CONNECT ON DATABASE test TO \"{{name}}\";",
            "default_ttl": "1h",
            "max_ttl": "2h",
        }),
    )
    .await;
    let (_, role_read) = read(&node, &format!("database/roles/{role}")).await;
    assert_eq!(role_read["data"]["default_ttl"], 3600);
    assert_eq!(role_read["data"]["max_ttl"], 7200);

    // Issued, logged in with, renewed up to max_ttl, revoked: the role is gone.
    let creds_path = format!("database/creds/{role}");
    let (status, creds) = read(&node, &creds_path).await;
    assert_eq!(status, StatusCode::OK, "{creds}");
    let lease_id = creds["lease_id"].as_str().expect("a lease").to_owned();
    assert!(
        lease_id.starts_with(&format!("database/creds/{role}/")),
        "{creds}"
    );
    assert_eq!(creds["lease_duration"], 3600);
    assert_eq!(creds["renewable"], true);
    let username = creds["data"]["username"]
        .as_str()
        .expect("username")
        .to_owned();
    let password = creds["data"]["password"]
        .as_str()
        .expect("password")
        .to_owned();
    assert!(
        username.starts_with("v-") && username.len() <= 63,
        "{username}"
    );
    assert!(password.len() >= 20);
    assert!(pg_role_exists(&username));
    assert!(pg_can_login(&username, &password));
    let (status, renewed) = write(
        &node,
        "sys/leases/renew",
        json!({"lease_id": lease_id, "increment": "5h"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    assert_eq!(renewed["lease_duration"], 7200, "capped by max_ttl");
    // The renewal moved the role's VALID UNTIL to the lease's new expiry (the clock's start
    // plus two hours).
    assert_eq!(
        psql(&format!(
            "SELECT to_char(rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM pg_roles WHERE rolname = '{username}'"
        )),
        "2023-11-15 00:13:20"
    );
    let (status, _) = write(&node, "sys/leases/revoke", json!({"lease_id": lease_id})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!pg_role_exists(&username), "revoking drops the role");
    assert!(!pg_can_login(&username, &password));

    // Expired and reaped.
    let (_, creds) = read(&node, &creds_path).await;
    let expiring = creds["data"]["username"]
        .as_str()
        .expect("username")
        .to_owned();
    assert!(pg_role_exists(&expiring));
    node.clock.advance(Duration::from_secs(3601));
    node.core.reap_expired().await.expect("reap");
    assert!(!pg_role_exists(&expiring), "expiry drops the role");

    // The kill switch.
    let (_, creds) = read(&node, &creds_path).await;
    let killed = creds["data"]["username"]
        .as_str()
        .expect("username")
        .to_owned();
    let (_, lookup) = write(
        &node,
        "sys/leases/lookup",
        json!({"lease_id": creds["lease_id"]}),
    )
    .await;
    let identity = lookup["data"]["identity"].clone();
    let (status, reply) = write(
        &node,
        "sys/leases/revoke-identity",
        json!({"identity": identity}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert!(!pg_role_exists(&killed), "the kill switch drops the role");

    // A role not in allowed_roles gets nothing.
    write_ok(
        &node,
        "database/roles/other",
        json!({"db_name": "pg", "creation_statements": "CREATE ROLE \"{{name}}\""}),
    )
    .await;
    let (status, reply) = read(&node, "database/creds/other").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{reply}");
}

#[tokio::test]
async fn issue_10_failures_hand_out_no_lease_and_leave_no_user() {
    let node = Node::unsealed().await;
    mount(&node, "database").await;

    // An unreachable database, checked when the config is written: nothing is stored.
    let unreachable = "postgresql://{{username}}:{{password}}@127.0.0.1:1/test";
    let (status, reply) = write(
        &node,
        "database/config/down",
        json!({
            "plugin_name": "postgresql-database-plugin",
            "connection_url": unreachable,
            "username": "postgres",
            "password": "down-secret-value",
            "allowed_roles": "*",
        }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{reply}");
    assert!(error_text(&reply).contains("could not connect"), "{reply}");
    assert!(!reply.to_string().contains("down-secret-value"));
    assert_eq!(
        read(&node, "database/config/down").await.0,
        StatusCode::NOT_FOUND
    );

    // Stored without the check, then used: the creds request fails (after retries).
    write_ok(
        &node,
        "database/config/down",
        json!({
            "plugin_name": "postgresql-database-plugin",
            "connection_url": unreachable,
            "username": "postgres",
            "allowed_roles": "*",
            "verify_connection": false,
        }),
    )
    .await;
    write_ok(
        &node,
        "database/roles/r",
        json!({"db_name": "down", "creation_statements": "CREATE ROLE \"{{name}}\""}),
    )
    .await;
    let (status, reply) = read(&node, "database/creds/r").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{reply}");
    assert!(error_text(&reply).contains("could not connect"), "{reply}");

    // A creation statement that fails: the role it began is rolled back, no lease.
    let role = unique("bad");
    write_ok(
        &node,
        "database/config/pg",
        json!({
            "plugin_name": "postgresql-database-plugin",
            "connection_url": PG_URL,
            "username": "postgres",
            "allowed_roles": "*",
        }),
    )
    .await;
    write_ok(
        &node,
        &format!("database/roles/{role}"),
        json!({
            "db_name": "pg",
            "creation_statements": ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}'", "SELECT no_such_function()"],
        }),
    )
    .await;
    let (status, reply) = read(&node, &format!("database/creds/{role}")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{reply}");
    assert!(error_text(&reply).contains("no_such_function"), "{reply}");
    let short: String = role.chars().take(8).collect();
    assert_eq!(
        psql(&format!(
            "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'v-%-{short}-%'"
        )),
        "0"
    );
    let (status, _, leases) = node
        .send(
            "LIST",
            "/v1/sys/leases/lookup/database/creds/",
            Some(&node.root),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "no lease was issued: {leases}"
    );
}

#[tokio::test]
async fn issue_10_mysql_static_role_rotates_on_schedule() {
    let node = Node::unsealed().await;
    mount(&node, "db").await;
    let user = unique("static");
    mysql_root(&format!(
        "DROP USER IF EXISTS '{user}'@'%'; CREATE USER '{user}'@'%' IDENTIFIED BY 'initial-Pass-1'"
    ));
    write_ok(
        &node,
        "db/config/maria",
        json!({
            "plugin_name": "mysql-database-plugin",
            "connection_url": MYSQL_DSN,
            "username": "root",
            "password": "",
            "allowed_roles": ["svc"],
        }),
    )
    .await;
    write_ok(
        &node,
        "db/static-roles/svc",
        json!({"db_name": "maria", "username": user, "rotation_period": "1h"}),
    )
    .await;
    // Taking the account over replaced its password.
    assert!(!mysql_can_login(&user, "initial-Pass-1"));
    let (status, first) = read(&node, "db/static-creds/svc").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["data"]["username"], user.as_str());
    assert_eq!(first["data"]["rotation_period"], 3600);
    assert_eq!(first["data"]["ttl"], 3600);
    let first_password = first["data"]["password"]
        .as_str()
        .expect("password")
        .to_owned();
    assert!(mysql_can_login(&user, &first_password));

    // Not due yet: the reminder pass leaves it.
    node.clock.advance(Duration::from_secs(1800));
    node.core.deliver_reminders().await.expect("reminder pass");
    let (_, same) = read(&node, "db/static-creds/svc").await;
    assert_eq!(same["data"]["password"], first_password.as_str());
    assert_eq!(same["data"]["ttl"], 1800);

    // Due: rotated; the old password stops working.
    node.clock.advance(Duration::from_secs(1801));
    node.core.deliver_reminders().await.expect("reminder pass");
    let (_, second) = read(&node, "db/static-creds/svc").await;
    let second_password = second["data"]["password"]
        .as_str()
        .expect("password")
        .to_owned();
    assert_ne!(second_password, first_password);
    assert!(mysql_can_login(&user, &second_password));
    assert!(!mysql_can_login(&user, &first_password));

    // On demand.
    write_ok(&node, "db/rotate-role/svc", json!({})).await;
    let (_, third) = read(&node, "db/static-creds/svc").await;
    let third_password = third["data"]["password"]
        .as_str()
        .expect("password")
        .to_owned();
    assert_ne!(third_password, second_password);
    assert!(mysql_can_login(&user, &third_password));
    assert!(!mysql_can_login(&user, &second_password));

    let (status, _, listed) = node
        .send("LIST", "/v1/db/static-roles", Some(&node.root), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["data"]["keys"], json!(["svc"]));
    let (_, role) = read(&node, "db/static-roles/svc").await;
    assert!(role["data"].get("password").is_none(), "{role}");
    mysql_root(&format!("DROP USER IF EXISTS '{user}'@'%'"));
}

#[tokio::test]
async fn issue_10_rotate_root_changes_the_config_users_password() {
    let node = Node::unsealed().await;
    mount(&node, "database").await;
    let admin = unique("coffer_admin_");
    mysql_root(&format!(
        "DROP USER IF EXISTS '{admin}'@'%'; CREATE USER '{admin}'@'%' IDENTIFIED BY 'Admin-Initial-1'; GRANT ALL PRIVILEGES ON *.* TO '{admin}'@'%' WITH GRANT OPTION"
    ));
    write_ok(
        &node,
        "database/config/maria",
        json!({
            "plugin_name": "mysql-database-plugin",
            "connection_url": MYSQL_DSN,
            "username": admin,
            "password": "Admin-Initial-1",
            "allowed_roles": "ro",
        }),
    )
    .await;
    write_ok(&node, "database/rotate-root/maria", json!({})).await;
    assert!(
        !mysql_can_login(&admin, "Admin-Initial-1"),
        "the old password is replaced"
    );
    // The engine still connects with the password only it knows.
    write_ok(
        &node,
        "database/roles/ro",
        json!({
            "db_name": "maria",
            "creation_statements": "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'; GRANT SELECT ON *.* TO '{{name}}'@'%';",
            "default_ttl": 600,
        }),
    )
    .await;
    let (status, creds) = read(&node, "database/creds/ro").await;
    assert_eq!(status, StatusCode::OK, "{creds}");
    let username = creds["data"]["username"]
        .as_str()
        .expect("username")
        .to_owned();
    assert!(username.len() <= 32, "{username}");
    assert!(mysql_can_login(
        &username,
        creds["data"]["password"].as_str().expect("password")
    ));
    let (status, _) = write(
        &node,
        "sys/leases/revoke",
        json!({"lease_id": creds["lease_id"]}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        mysql_root(&format!(
            "SELECT count(*) FROM mysql.user WHERE user = '{username}'"
        )),
        "0"
    );
    mysql_root(&format!("DROP USER IF EXISTS '{admin}'@'%'"));
}

#[tokio::test]
async fn issue_10_a_user_whose_drop_fails_stays_listed_and_is_dropped_on_a_retry() {
    let node = Node::unsealed().await;
    mount(&node, "database").await;
    let role = unique("flaky");
    let config = |url: &str| {
        json!({
            "plugin_name": "postgresql-database-plugin",
            "connection_url": url,
            "username": "postgres",
            "password": "unused",
            "allowed_roles": role,
            "verify_connection": false,
        })
    };
    write_ok(&node, "database/config/pg", config(PG_URL)).await;
    write_ok(
        &node,
        &format!("database/roles/{role}"),
        json!({
            "db_name": "pg",
            "creation_statements": "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}';",
            "default_ttl": "1h",
        }),
    )
    .await;
    let (status, creds) = read(&node, &format!("database/creds/{role}")).await;
    assert_eq!(status, StatusCode::OK, "{creds}");
    let lease_id = creds["lease_id"].as_str().expect("a lease").to_owned();
    let username = creds["data"]["username"]
        .as_str()
        .expect("username")
        .to_owned();
    assert!(pg_role_exists(&username));

    // The database becomes unreachable (nothing listens on port 1): the revocation fails, the
    // user stays, and the lease is kept and listed, no longer usable.
    write_ok(
        &node,
        "database/config/pg",
        config("postgresql://{{username}}:{{password}}@127.0.0.1:1/test"),
    )
    .await;
    let (status, reply) = write(&node, "sys/leases/revoke", json!({"lease_id": lease_id})).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{reply}");
    assert!(error_text(&reply).contains("failed to revoke"), "{reply}");
    assert!(pg_role_exists(&username), "the user could not be dropped");
    let (status, _, failed) = node
        .send("LIST", "/v1/sys/leases/failed", Some(&node.root), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{failed}");
    assert_eq!(failed["data"]["keys"], json!([lease_id]), "{failed}");
    let info = &failed["data"]["key_info"][&lease_id];
    assert_eq!(info["attempts"], 1, "{failed}");
    assert!(
        !failed.to_string().contains("unused"),
        "no password in the listing: {failed}"
    );
    let (status, _) = write(&node, "sys/leases/renew", json!({"lease_id": lease_id})).await;
    assert!(status.is_client_error(), "a failed lease is not renewable");

    // The database is back: the reaper's next attempt (after the backoff) drops the user.
    write_ok(&node, "database/config/pg", config(PG_URL)).await;
    node.clock.advance(Duration::from_secs(5));
    node.core.reap_expired().await.expect("reap");
    assert!(!pg_role_exists(&username), "the retry dropped the user");
    let (status, _, _) = node
        .send("LIST", "/v1/sys/leases/failed", Some(&node.root), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing left failing");
}
