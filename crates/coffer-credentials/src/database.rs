//! `database-url`: a connection URL for a known engine. Metadata names the engine, host, port,
//! database, user and whether TLS is requested; the password and query parameters (which may
//! hold secrets) never reach metadata.

use url::Url;
use zeroize::Zeroizing;

use crate::Inspection;
use crate::error::{Error, Result};
use crate::kind::CredentialType;

const KIND: CredentialType = CredentialType::DatabaseUrl;

/// A supported URL scheme: the engine name, its default port, and whether the scheme itself
/// implies TLS.
struct Scheme {
    scheme: &'static str,
    engine: &'static str,
    default_port: Option<u16>,
    tls: bool,
}

const SCHEMES: &[Scheme] = &[
    Scheme {
        scheme: "postgres",
        engine: "postgresql",
        default_port: Some(5432),
        tls: false,
    },
    Scheme {
        scheme: "postgresql",
        engine: "postgresql",
        default_port: Some(5432),
        tls: false,
    },
    Scheme {
        scheme: "mysql",
        engine: "mysql",
        default_port: Some(3306),
        tls: false,
    },
    Scheme {
        scheme: "mariadb",
        engine: "mariadb",
        default_port: Some(3306),
        tls: false,
    },
    Scheme {
        scheme: "mongodb",
        engine: "mongodb",
        default_port: Some(27017),
        tls: false,
    },
    // SRV lookups choose the port, and Atlas-style SRV URLs use TLS by default.
    Scheme {
        scheme: "mongodb+srv",
        engine: "mongodb",
        default_port: None,
        tls: true,
    },
    Scheme {
        scheme: "redis",
        engine: "redis",
        default_port: Some(6379),
        tls: false,
    },
    Scheme {
        scheme: "rediss",
        engine: "redis",
        default_port: Some(6379),
        tls: true,
    },
    Scheme {
        scheme: "sqlserver",
        engine: "sqlserver",
        default_port: Some(1433),
        tls: false,
    },
    Scheme {
        scheme: "mssql",
        engine: "sqlserver",
        default_port: Some(1433),
        tls: false,
    },
    Scheme {
        scheme: "cockroachdb",
        engine: "cockroachdb",
        default_port: Some(26257),
        tls: false,
    },
    Scheme {
        scheme: "oracle",
        engine: "oracle",
        default_port: Some(1521),
        tls: false,
    },
    Scheme {
        scheme: "clickhouse",
        engine: "clickhouse",
        default_port: Some(9000),
        tls: false,
    },
    Scheme {
        scheme: "amqp",
        engine: "amqp",
        default_port: Some(5672),
        tls: false,
    },
    Scheme {
        scheme: "amqps",
        engine: "amqp",
        default_port: Some(5671),
        tls: true,
    },
];

/// Longest scheme quoted back in an error; anything longer is more likely a secret than a
/// scheme.
const MAX_QUOTED_SCHEME: usize = 20;

fn invalid(reason: &'static str) -> Error {
    Error::Invalid { kind: KIND, reason }
}

/// Validates the URL and records `engine`, `host`, `port`, `database`, `username`, `tls`.
pub(crate) fn inspect(value: &str, inspection: &mut Inspection) -> Result<()> {
    let value = value.trim();
    let Some((scheme, rest)) = value.split_once("://") else {
        return Err(invalid("the value is not a URL (no scheme://)"));
    };
    let scheme_lower = scheme.to_ascii_lowercase();
    let Some(known) = SCHEMES.iter().find(|s| s.scheme == scheme_lower) else {
        let quotable = scheme.len() <= MAX_QUOTED_SCHEME
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        return Err(if quotable {
            Error::UnsupportedScheme(scheme_lower)
        } else {
            invalid("the URL scheme is not a database scheme")
        });
    };
    // MongoDB allows a comma-separated host list, which URL parsers reject: parse the URL with
    // the first host and report all of them.
    let (single_host, hosts) = split_hosts(rest);
    let url = Url::parse(&Zeroizing::new(format!(
        "{scheme}://{}",
        single_host.as_str()
    )))
    .map_err(Error::Url)?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| invalid("the URL has no host"))?;

    inspection.set("engine", known.engine);
    match hosts {
        Some(hosts) => inspection.set("host", hosts.join(",")),
        None => inspection.set("host", host),
    }
    if let Some(port) = url.port().or(known.default_port) {
        inspection.set("port", port.to_string());
    }
    let database = url
        .path_segments()
        .and_then(|mut segments| segments.next())
        .unwrap_or("");
    if !database.is_empty() {
        let decoded = percent_decode(database);
        inspection.set("database", decoded.as_str());
    }
    if !url.username().is_empty() {
        let decoded = percent_decode(url.username());
        inspection.set("username", decoded.as_str());
    }
    let tls = tls_from_query(&url).unwrap_or(known.tls);
    inspection.set("tls", tls.to_string());
    Ok(())
}

/// For a multi-host authority (`user:pw@h1:1,h2:2/db`), the URL text with only the first host
/// and the list of host names; otherwise the text unchanged and `None`.
fn split_hosts(rest: &str) -> (Zeroizing<String>, Option<Vec<String>>) {
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (userinfo, host_list) = match authority.rfind('@') {
        Some(at) => authority.split_at(at + 1),
        None => ("", authority),
    };
    if !host_list.contains(',') {
        return (Zeroizing::new(rest.to_owned()), None);
    }
    let mut hosts = host_list.split(',').filter(|h| !h.is_empty());
    let first = hosts.next().unwrap_or_default();
    let names = host_list
        .split(',')
        .filter(|h| !h.is_empty())
        .map(|h| host_name(h).to_owned())
        .collect();
    (
        Zeroizing::new(format!("{userinfo}{first}{tail}")),
        Some(names),
    )
}

/// The host part of `host[:port]` or `[v6]:port`.
fn host_name(host_and_port: &str) -> &str {
    if host_and_port.starts_with('[') {
        return host_and_port
            .split_inclusive(']')
            .next()
            .unwrap_or(host_and_port);
    }
    host_and_port.split(':').next().unwrap_or(host_and_port)
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

/// TLS as requested by the engine's query parameters, if any is present.
fn tls_from_query(url: &Url) -> Option<bool> {
    let mut tls = None;
    for (key, value) in url.query_pairs() {
        let value = value.to_ascii_lowercase();
        let requested = match key.to_ascii_lowercase().as_str() {
            // PostgreSQL: only these modes refuse a plaintext connection.
            "sslmode" => matches!(value.as_str(), "require" | "verify-ca" | "verify-full"),
            // MySQL and MariaDB.
            "ssl-mode" | "ssl_mode" => {
                matches!(value.as_str(), "required" | "verify_ca" | "verify_identity")
            }
            "ssl" | "tls" | "encrypt" | "usessl" => matches!(value.as_str(), "true" | "1" | "yes"),
            _ => continue,
        };
        tls = Some(requested);
    }
    tls
}
