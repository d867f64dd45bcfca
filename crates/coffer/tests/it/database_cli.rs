//! The database secrets engine driven by the stock `bao` CLI (and `coffer secrets enable`)
//! against a real `coffer` server process and the real local MariaDB and PostgreSQL: the seed
//! guide's "Automated Secret Rotation" commands, credentials that log in until `bao lease
//! revoke`, users dropped when their short lease expires, and leases that expired while the
//! server was killed with SIGKILL revoked after it restarts (with no password in its debug log),
//! and `coffer credentials rotate NAME -generate` of `database-url` credentials (one login per
//! version, kept while leased, dropped when the last lease ends) on PostgreSQL and MariaDB.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::lifecycle::init_unsealed;
use crate::support::{TestServer, bao, coffer_cli, sqlite_config, stderr, stdout, stdout_json};

const PG_URL: &str = "connection_url=postgresql://{{username}}:{{password}}@127.0.0.1:5432/test";

fn dev_server(dir: &Path) -> TestServer {
    TestServer::spawn_args(
        dir,
        &[
            "server",
            "-dev",
            "-dev-root-token-id=root",
            "-dev-listen-address=127.0.0.1:0",
        ],
    )
}

fn ok(home: &Path, addr: &str, token: &str, args: &[&str]) -> String {
    let output = bao(home, addr, Some(token), args);
    assert!(
        output.status.success(),
        "bao {args:?}: {} {}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

fn json(home: &Path, addr: &str, token: &str, args: &[&str]) -> Value {
    let output = bao(home, addr, Some(token), args);
    assert!(output.status.success(), "bao {args:?}: {}", stderr(&output));
    stdout_json(&output)
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
    assert!(output.status.success(), "psql {sql}");
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

fn mysql_user_exists(name: &str) -> bool {
    let output = Command::new("mysql")
        .args([
            "-h127.0.0.1",
            "-uroot",
            "-N",
            "-e",
            &format!("SELECT count(*) FROM mysql.user WHERE user = '{name}'"),
        ])
        .output()
        .expect("run mysql");
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout).trim() == "1"
}

fn mysql_can_login(user: &str, password: &str) -> bool {
    Command::new("mysql")
        .args(["-h127.0.0.1", &format!("-u{user}"), "-e", "SELECT 1"])
        .env("MYSQL_PWD", password)
        .output()
        .expect("run mysql")
        .status
        .success()
}

/// Waits (bounded) until `done` holds; the server's reaper runs every second.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn creds(home: &Path, addr: &str, token: &str, role: &str) -> (String, String, String) {
    let reply = json(
        home,
        addr,
        token,
        &["read", "-format=json", &format!("database/creds/{role}")],
    );
    let field = |v: &Value| v.as_str().expect("a string").to_owned();
    (
        field(&reply["lease_id"]),
        field(&reply["data"]["username"]),
        field(&reply["data"]["password"]),
    )
}

#[test]
fn issue_10_seed_rotation_commands_with_bao_on_mariadb() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path();
    let server = dev_server(home);
    let addr = server.addr.as_str();
    let role = format!("my-role-{}", std::process::id());
    ok(home, addr, "root", &["secrets", "enable", "database"]);
    ok(
        home,
        addr,
        "root",
        &[
            "write",
            "database/config/my-database",
            "plugin_name=mysql-database-plugin",
            "connection_url={{username}}:{{password}}@tcp(127.0.0.1:3306)/",
            &format!("allowed_roles={role}"),
            "username=root",
            "password=",
        ],
    );
    ok(
        home,
        addr,
        "root",
        &[
            "write",
            &format!("database/roles/{role}"),
            "db_name=my-database",
            "creation_statements=CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'; GRANT SELECT ON *.* TO '{{name}}'@'%';",
            "default_ttl=1h",
            "max_ttl=24h",
        ],
    );
    let config = json(
        home,
        addr,
        "root",
        &["read", "-format=json", "database/config/my-database"],
    );
    assert_eq!(config["data"]["plugin_name"], "mysql-database-plugin");
    assert!(
        config["data"]["connection_details"]
            .get("password")
            .is_none()
    );

    let (lease_id, username, password) = creds(home, addr, "root", &role);
    assert!(lease_id.starts_with(&format!("database/creds/{role}/")));
    assert!(
        username.starts_with("v-") && username.len() <= 32,
        "{username}"
    );
    assert!(mysql_can_login(&username, &password));
    let looked = json(
        home,
        addr,
        "root",
        &["lease", "lookup", "-format=json", &lease_id],
    );
    assert_eq!(looked["data"]["renewable"], true);
    ok(home, addr, "root", &["lease", "revoke", &lease_id]);
    assert!(!mysql_can_login(&username, &password), "revoked: no login");
    assert!(!mysql_user_exists(&username));

    // `coffer secrets enable` mounts the same engine.
    let output = coffer_cli(
        home,
        addr,
        Some("root"),
        &["secrets", "enable", "-path=db2", "database"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let mounts = json(home, addr, "root", &["secrets", "list", "-format=json"]);
    assert_eq!(mounts["db2/"]["type"], "database", "{mounts}");
}

#[test]
fn issue_10_bao_postgres_creds_until_revoked_and_on_expiry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path();
    let server = dev_server(home);
    let addr = server.addr.as_str();
    ok(home, addr, "root", &["secrets", "enable", "database"]);
    ok(
        home,
        addr,
        "root",
        &[
            "write",
            "database/config/pg",
            "plugin_name=postgresql-database-plugin",
            PG_URL,
            "allowed_roles=app,short",
            "username=postgres",
            "password=unused-under-trust",
        ],
    );
    let statements = "creation_statements=CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; GRANT CONNECT ON DATABASE test TO \"{{name}}\";";
    ok(
        home,
        addr,
        "root",
        &[
            "write",
            "database/roles/app",
            "db_name=pg",
            statements,
            "default_ttl=1h",
        ],
    );
    ok(
        home,
        addr,
        "root",
        &[
            "write",
            "database/roles/short",
            "db_name=pg",
            statements,
            "default_ttl=2s",
            "max_ttl=2s",
        ],
    );

    let (lease_id, username, password) = creds(home, addr, "root", "app");
    assert!(pg_can_login(&username, &password));
    ok(home, addr, "root", &["lease", "revoke", &lease_id]);
    assert!(!pg_can_login(&username, &password), "revoked: no login");
    assert!(!pg_role_exists(&username));

    // A short lease: the role disappears once the reaper passes its expiry.
    let (_, short_user, _) = creds(home, addr, "root", "short");
    assert!(pg_role_exists(&short_user));
    eventually("the expired lease's role is dropped", || {
        !pg_role_exists(&short_user)
    });
}

#[tokio::test]
async fn issue_10_leases_that_expired_while_the_server_was_down_drop_their_users() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path();
    let server = TestServer::sqlite(home);
    let init = init_unsealed(&server).await;
    let token = init.root_token.clone();
    let addr = server.addr.clone();
    ok(home, &addr, &token, &["secrets", "enable", "database"]);
    ok(
        home,
        &addr,
        &token,
        &[
            "write",
            "database/config/pg",
            "plugin_name=postgresql-database-plugin",
            PG_URL,
            "allowed_roles=crash",
            "username=postgres",
        ],
    );
    ok(
        home,
        &addr,
        &token,
        &[
            "write",
            "database/roles/crash",
            "db_name=pg",
            "creation_statements=CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}';",
            "default_ttl=3s",
        ],
    );
    let issued: Vec<(String, String)> = (0..2)
        .map(|_| {
            let (_, user, password) = creds(home, &addr, &token, "crash");
            (user, password)
        })
        .collect();
    let users: Vec<String> = issued.iter().map(|(user, _)| user.clone()).collect();
    server.kill9();
    // Restart only once the leases have expired.
    let expired = Instant::now() + Duration::from_secs(4);
    eventually("the leases' expiry has passed", || {
        Instant::now() >= expired
    });
    for user in &users {
        assert!(
            pg_role_exists(user),
            "nothing revoked while the server was down"
        );
    }

    let server = TestServer::with_config(home, &sqlite_config(home));
    let status = server
        .client()
        .unseal(&init.keys_base64[0])
        .await
        .expect("unseal");
    assert!(!status.sealed);
    eventually(
        "the restarted server drops the expired leases' roles",
        || users.iter().all(|user| !pg_role_exists(user)),
    );
    // The server logs at debug level; no password ever reaches the log.
    let logs = server.logs();
    assert!(logs.contains("dropped the database user"), "{logs}");
    for (_, password) in &issued {
        assert!(!logs.contains(password.as_str()), "a password was logged");
    }
}

/// The user and password of a `postgresql://user:password@host…` URL.
fn url_login(url: &str) -> (String, String) {
    let rest = url.split_once("://").expect("a URL").1;
    let userinfo = rest.rsplit_once('@').expect("a user").0;
    let (user, password) = userinfo.split_once(':').expect("a password");
    (user.to_owned(), password.to_owned())
}

#[test]
fn issue_10_database_url_rotate_generate_keeps_old_login_while_leased() {
    let cli = crate::support::DevCli::start();
    let base = format!("dburl{}", std::process::id());
    psql(&format!("DROP ROLE IF EXISTS {base}"));
    psql(&format!("CREATE ROLE {base} LOGIN PASSWORD 'initial-pw'"));
    cli.ok(&["secrets", "enable", "database"]);
    cli.ok(&[
        "write",
        "database/config/pg",
        "plugin_name=postgresql-database-plugin",
        PG_URL,
        "allowed_roles=*",
        "username=postgres",
        "password=unused-under-trust",
    ]);
    let policy = serde_json::json!({"database": {
        "config": "pg",
        "creationStatements": [
            "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}'",
            "GRANT CONNECT ON DATABASE test TO \"{{name}}\"",
        ],
    }})
    .to_string();
    cli.ok(&[
        "credentials",
        "create",
        "appdb",
        "-type=database-url",
        &format!("-value=postgresql://{base}:initial-pw@127.0.0.1:5432/test?sslmode=disable"),
        &format!("-policy={policy}"),
    ]);

    // Rotate with -generate: a new login, in the database and in Coffer in one step.
    let out = cli.ok(&["credentials", "rotate", "appdb", "-generate"]);
    assert!(
        out.starts_with("Success! Rotated credential appdb to version 2"),
        "{out}"
    );
    let v2_user = format!("{base}_v2");
    let versions = cli.json(&["credentials", "versions", "appdb"]);
    assert_eq!(versions["versions"][0]["databaseUser"], v2_user.as_str());
    let lease = cli.json(&["lease", "create", "appdb"]);
    let v2_url = lease["value"].as_str().expect("a value").to_owned();
    assert!(
        v2_url.ends_with("@127.0.0.1:5432/test?sslmode=disable"),
        "kept host, db and params"
    );
    let (user, v2_password) = url_login(&v2_url);
    assert_eq!(user, v2_user);
    assert!(pg_can_login(&v2_user, &v2_password), "the new URL logs in");
    let lease_id = lease["leaseId"].as_str().expect("a lease id").to_owned();

    // Rotate again: the old URL keeps working while its lease is active.
    let rotated = cli.json(&["credentials", "rotate", "appdb", "-generate"]);
    assert_eq!(rotated["previousVersionLeases"], 1);
    let v3 = cli.json(&["lease", "create", "appdb"]);
    let (v3_user, v3_password) = url_login(v3["value"].as_str().expect("a value"));
    assert_eq!(v3_user, format!("{base}_v3"));
    assert!(pg_can_login(&v3_user, &v3_password));
    assert!(
        pg_can_login(&v2_user, &v2_password),
        "still leased: still logs in"
    );

    // The lease ends: the old login is dropped; the current one stays.
    cli.ok(&["lease", "revoke", &lease_id]);
    eventually("the rotated version's login is dropped", || {
        !pg_role_exists(&v2_user)
    });
    assert!(!pg_can_login(&v2_user, &v2_password));
    assert!(pg_can_login(&v3_user, &v3_password));
    // A login Coffer did not create (version 1's) is left alone.
    assert!(pg_role_exists(&base));

    // An ended lease on v3, then a rotation: nobody holds v3, its login goes at once.
    let v3_lease = v3["leaseId"].as_str().expect("a lease id").to_owned();
    cli.ok(&["lease", "revoke", &v3_lease]);
    cli.ok(&["credentials", "rotate", "appdb", "-generate"]);
    assert!(!pg_role_exists(&v3_user));
    let v4_user = format!("{base}_v4");
    assert!(pg_role_exists(&v4_user));

    // -generate needs a database reference: a clear 400, nothing stored.
    cli.ok(&[
        "credentials",
        "create",
        "plaindb",
        "-type=database-url",
        "-value=postgresql://someone:pw@127.0.0.1:5432/test",
    ]);
    let error = cli.fails_nonzero(&["credentials", "rotate", "plaindb", "-generate"]);
    assert!(error.contains("policy.database"), "{error}");
    let out = cli.run(&["write", "credentials/plaindb/rotate", "generate=true"]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("400") && text.contains("policy.database"),
        "{text}"
    );
    assert_eq!(
        cli.json(&["credentials", "get", "plaindb"])["version"],
        1,
        "nothing stored"
    );
    // A database step that fails stores nothing either.
    cli.ok(&[
        "credentials",
        "update",
        "appdb",
        "-policy",
        r#"{"database": {"config": "pg", "creationStatements": ["CREATE ROLE \"{{name}}\" WITH NOSUCHOPTION"]}}"#,
    ]);
    let error = cli.fails_nonzero(&["credentials", "rotate", "appdb", "-generate"]);
    assert!(error.contains("database"), "{error}");
    assert!(!error.contains(&v2_password));
    assert_eq!(cli.json(&["credentials", "get", "appdb"])["version"], 4);

    // Naming a database takes sudo: a token that may write credentials but lacks sudo is
    // refused.
    cli.ok(&[
        "write",
        "sys/policies/acl/cred-writer",
        r#"policy=path "credentials/*" { capabilities = ["create", "update", "read", "patch"] }"#,
    ]);
    let token = cli.ok(&[
        "write",
        "-field=token",
        "auth/token/create",
        "policies=cred-writer",
    ]);
    let out = coffer_cli(
        &cli.home,
        &cli.server.addr,
        Some(token.trim()),
        &[
            "credentials",
            "create",
            "sneaky",
            "-type=database-url",
            "-value=postgresql://someone:pw@127.0.0.1:5432/test",
            &format!("-policy={policy}"),
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("needs sudo"), "{}", stderr(&out));

    // Revoking the credential drops the logins Coffer made for it.
    cli.ok(&["credentials", "revoke", "appdb"]);
    assert!(!pg_role_exists(&v4_user));
    psql(&format!("DROP ROLE IF EXISTS {base}"));
}

#[test]
fn issue_10_database_url_rotate_generate_on_mariadb() {
    let cli = crate::support::DevCli::start();
    let base = format!("dbm{}", std::process::id());
    cli.ok(&["secrets", "enable", "database"]);
    cli.ok(&[
        "write",
        "database/config/maria",
        "plugin_name=mysql-database-plugin",
        "connection_url={{username}}:{{password}}@tcp(127.0.0.1:3306)/",
        "allowed_roles=*",
        "username=root",
        "password=",
    ]);
    let policy = serde_json::json!({"database": {
        "config": "maria",
        "creationStatements": ["CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'"],
    }})
    .to_string();
    cli.ok(&[
        "credentials",
        "create",
        "mariadb-app",
        "-type=database-url",
        &format!("-value=mysql://{base}:handmade@127.0.0.1:3306/test"),
        &format!("-policy={policy}"),
    ]);
    cli.ok(&["credentials", "rotate", "mariadb-app", "-generate"]);
    let lease = cli.json(&["lease", "create", "mariadb-app"]);
    let (v2_user, v2_password) = url_login(lease["value"].as_str().expect("a value"));
    assert_eq!(v2_user, format!("{base}_v2"));
    assert!(mysql_can_login(&v2_user, &v2_password));
    cli.ok(&["credentials", "rotate", "mariadb-app", "-generate"]);
    assert!(
        mysql_can_login(&v2_user, &v2_password),
        "leased: still logs in"
    );
    let v3_user = format!("{base}_v3");
    assert!(mysql_user_exists(&v3_user));
    cli.ok(&[
        "lease",
        "revoke",
        lease["leaseId"].as_str().expect("a lease id"),
    ]);
    eventually("the rotated version's MariaDB login is dropped", || {
        !mysql_user_exists(&v2_user)
    });
    assert!(!mysql_can_login(&v2_user, &v2_password));
    cli.ok(&["credentials", "revoke", "mariadb-app"]);
    assert!(!mysql_user_exists(&v3_user));
}
