//! `database-url`: engine, host, port, database, user and TLS; never the password.

use coffer_credentials::CredentialType;

use crate::support::check_with;

const PASSWORD: &str = "s3cr3t-PA55";

fn check(value: &str, expect: &str) {
    check_with(
        CredentialType::DatabaseUrl,
        value,
        None,
        &[],
        &[PASSWORD],
        expect,
    );
}

#[test]
fn engines_and_defaults() {
    check(
        "postgres://app:s3cr3t-PA55@db.internal:6543/orders?sslmode=verify-full",
        "database=orders\nengine=postgresql\nhost=db.internal\nport=6543\ntls=true\nusername=app",
    );
    check(
        "postgresql://db.internal/orders",
        "database=orders\nengine=postgresql\nhost=db.internal\nport=5432\ntls=false",
    );
    check(
        "postgres://u:s3cr3t-PA55@h/d?sslmode=prefer",
        "database=d\nengine=postgresql\nhost=h\nport=5432\ntls=false\nusername=u",
    );
    check(
        "mysql://root:s3cr3t-PA55@10.0.0.5/shop?ssl-mode=REQUIRED",
        "database=shop\nengine=mysql\nhost=10.0.0.5\nport=3306\ntls=true\nusername=root",
    );
    check(
        "mariadb://m@maria:3307/x",
        "database=x\nengine=mariadb\nhost=maria\nport=3307\ntls=false\nusername=m",
    );
    check(
        "mongodb://u:s3cr3t-PA55@mongo1:27017,mongo2:27018,mongo3/app?replicaSet=rs0",
        "database=app\nengine=mongodb\nhost=mongo1,mongo2,mongo3\nport=27017\ntls=false\nusername=u",
    );
    check(
        "mongodb+srv://u:s3cr3t-PA55@cluster0.example.net/app",
        "database=app\nengine=mongodb\nhost=cluster0.example.net\ntls=true\nusername=u",
    );
    check(
        "mongodb+srv://u:s3cr3t-PA55@cluster0.example.net/app?tls=false",
        "database=app\nengine=mongodb\nhost=cluster0.example.net\ntls=false\nusername=u",
    );
    check(
        "redis://:s3cr3t-PA55@cache:6380/2",
        "database=2\nengine=redis\nhost=cache\nport=6380\ntls=false",
    );
    check(
        "rediss://default:s3cr3t-PA55@cache",
        "engine=redis\nhost=cache\nport=6379\ntls=true\nusername=default",
    );
    check(
        "sqlserver://sa:s3cr3t-PA55@[::1]/master?encrypt=true",
        "database=master\nengine=sqlserver\nhost=[::1]\nport=1433\ntls=true\nusername=sa",
    );
    check(
        "mssql://sa@sql.example",
        "engine=sqlserver\nhost=sql.example\nport=1433\ntls=false\nusername=sa",
    );
    check(
        "POSTGRES://h/d",
        "database=d\nengine=postgresql\nhost=h\nport=5432\ntls=false",
    );
    check(
        "postgres://us%40er:s3cr3t-PA55@h/my%20db",
        "database=my db\nengine=postgresql\nhost=h\nport=5432\ntls=false\nusername=us@er",
    );
}

#[test]
fn rejected_urls() {
    check(
        "ftp://files.example/pub",
        "error: unsupported database scheme \"ftp\"",
    );
    check(
        "https://u:s3cr3t-PA55@example.com",
        "error: unsupported database scheme \"https\"",
    );
    check(
        "db.internal:5432/orders",
        "error: invalid database-url: the value is not a URL (no scheme://)",
    );
    check(
        "s3cr3t-PA55",
        "error: invalid database-url: the value is not a URL (no scheme://)",
    );
    check(
        "postgres://",
        "error: invalid database-url: the URL has no host",
    );
    check(
        "postgres://u:s3cr3t-PA55@h:99999/d",
        "error: invalid database-url: invalid port number",
    );
    check(
        "postgres:///var/run/socket",
        "error: invalid database-url: the URL has no host",
    );
    // A "scheme" that could be a secret is never quoted.
    check(
        "s3cr3t-PA55 with spaces://x",
        "error: invalid database-url: the URL scheme is not a database scheme",
    );
}
