//! `coffer token create|lookup|renew|revoke` and `coffer login` (with a token, or through
//! the userpass and approle auth methods).

use std::collections::BTreeMap;
use std::io::Read;

use anyhow::Context;
use coffer_api::{Auth, Envelope, TokenCreateRequest};
use coffer_client::Client;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use super::{Outcome, data, print_fields, read_secret};
use crate::cli::{LoginArgs, LoginMethod, TokenCreateArgs};
use crate::connection;
use crate::output::{self, Format};

/// A lease or token lifetime as Vault's CLI shows it: `1h30m`, or `∞` for none.
pub(crate) fn duration_text(secs: u64) -> String {
    if secs == 0 {
        "∞".to_owned()
    } else {
        humanize(secs)
    }
}

fn humanize(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// The token table of Vault's CLI for an `auth` block: token, accessor, duration,
/// renewability, policies, then one `token_meta_<key>` row per metadata key.
pub(crate) fn auth_rows(auth: &Auth) -> Vec<(String, Value)> {
    let mut rows = vec![
        ("token".to_owned(), json!(auth.client_token)),
        ("token_accessor".to_owned(), json!(auth.accessor)),
        (
            "token_duration".to_owned(),
            json!(duration_text(auth.lease_duration)),
        ),
        ("token_renewable".to_owned(), json!(auth.renewable)),
        ("token_policies".to_owned(), json!(auth.token_policies)),
        ("identity_policies".to_owned(), json!([])),
        ("policies".to_owned(), json!(auth.policies)),
    ];
    if let Some(meta) = &auth.metadata {
        for (key, value) in meta {
            rows.push((format!("token_meta_{key}"), json!(value)));
        }
    }
    rows
}

fn print_auth(format: Format, field: Option<&str>, envelope: &Envelope) -> anyhow::Result<()> {
    let auth = envelope
        .auth
        .as_ref()
        .context("the server returned no token")?;
    let full = serde_json::to_value(envelope).context("encoding the reply")?;
    print_fields(format, field, &auth_rows(auth), &full)
}

fn print_data(format: Format, field: Option<&str>, envelope: &Envelope) -> anyhow::Result<()> {
    let data = envelope.data.clone().unwrap_or_default();
    let rows: Vec<(String, Value)> = data.into_iter().collect();
    let full = serde_json::to_value(envelope).context("encoding the reply")?;
    print_fields(format, field, &rows, &full)
}

/// `coffer token create`.
pub(crate) async fn create(
    client: &Client,
    format: Format,
    args: TokenCreateArgs,
) -> anyhow::Result<Outcome> {
    let mut meta = BTreeMap::new();
    for pair in &args.metadata {
        let (key, value) = pair
            .split_once('=')
            .with_context(|| format!("metadata {pair:?} must be key=value"))?;
        meta.insert(key.to_owned(), value.to_owned());
    }
    let policies: Vec<String> = args
        .policies
        .iter()
        .flat_map(|p| p.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    let request = TokenCreateRequest {
        policies,
        meta,
        ttl: args.ttl,
        explicit_max_ttl: args.explicit_max_ttl,
        period: args.period,
        display_name: args.display_name,
        num_uses: args.use_limit,
        renewable: Some(args.renewable),
        no_default_policy: args.no_default_policy,
        no_parent: false,
    };
    let envelope = client.token_create(&request, args.orphan).await?;
    print_auth(format, args.field.as_deref(), &envelope)?;
    Ok(Outcome::Success)
}

/// `coffer token lookup`.
pub(crate) async fn lookup(
    client: &Client,
    format: Format,
    token: Option<String>,
    accessor: bool,
    field: Option<String>,
) -> anyhow::Result<Outcome> {
    let envelope = match (token, accessor) {
        (Some(accessor_id), true) => client.token_lookup_accessor(&accessor_id).await?,
        (None, true) => anyhow::bail!("-accessor needs an accessor argument"),
        (Some(token), false) => client.token_lookup(&token).await?,
        (None, false) => client.token_lookup_self().await?,
    };
    print_data(format, field.as_deref(), &envelope)?;
    Ok(Outcome::Success)
}

/// `coffer token renew`.
pub(crate) async fn renew(
    client: &Client,
    format: Format,
    token: Option<String>,
    increment: Option<String>,
) -> anyhow::Result<Outcome> {
    let envelope = match token {
        Some(token) => client.token_renew(&token, increment.as_deref()).await?,
        None => client.token_renew_self(increment.as_deref()).await?,
    };
    print_auth(format, None, &envelope)?;
    Ok(Outcome::Success)
}

/// `coffer token revoke`.
pub(crate) async fn revoke(
    client: &Client,
    token: Option<String>,
    self_: bool,
    accessor: bool,
    mode: Option<String>,
) -> anyhow::Result<Outcome> {
    match (token, self_, accessor, mode.as_deref()) {
        (None, true, false, None) => client.token_revoke_self().await?,
        (Some(id), false, true, None) => client.token_revoke_accessor(&id).await?,
        (Some(token), false, false, None | Some("path")) => client.token_revoke(&token).await?,
        (Some(token), false, false, Some("orphan")) => client.token_revoke_orphan(&token).await?,
        (_, _, _, Some(other)) if other != "orphan" && other != "path" => {
            anyhow::bail!("unknown -mode {other:?} (use orphan)")
        }
        (None, false, _, _) => anyhow::bail!("give a token to revoke, or -self"),
        _ => anyhow::bail!("-self cannot be combined with a token or -accessor"),
    }
    output::line("Success! Revoked token (if it existed)");
    Ok(Outcome::Success)
}

/// What `coffer login` authenticates with, parsed once from `-method`, `-path` and the
/// arguments. Secrets are zeroized on drop and never printed (`Debug` is redacted).
enum Credentials {
    /// An existing token (`-method=token`).
    Token(Zeroizing<String>),
    /// Credentials an auth method turns into a token.
    Method(MethodCredentials),
}

/// The credentials of an auth method's login endpoint.
enum MethodCredentials {
    /// `auth/<mount>/login/<username> {"password": …}`.
    Userpass {
        mount: String,
        username: String,
        password: Zeroizing<String>,
    },
    /// `auth/<mount>/login {"role_id": …, "secret_id": …}`.
    Approle {
        mount: String,
        role_id: String,
        secret_id: Zeroizing<String>,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Token(_) => f.write_str("Token(<redacted>)"),
            Credentials::Method(method) => method.fmt(f),
        }
    }
}

impl std::fmt::Debug for MethodCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MethodCredentials::Userpass {
                mount, username, ..
            } => f
                .debug_struct("Userpass")
                .field("mount", mount)
                .field("username", username)
                .finish_non_exhaustive(),
            MethodCredentials::Approle { mount, role_id, .. } => f
                .debug_struct("Approle")
                .field("mount", mount)
                .field("role_id", role_id)
                .finish_non_exhaustive(),
        }
    }
}

impl Credentials {
    /// Parses the login arguments: for `token`, the token itself (`-` reads stdin, `token=…`
    /// works too); for the others `key=value` pairs as `coffer write` takes them. A missing
    /// secret (token, password, secret_id) comes from `ask`, which prompts or reads stdin.
    fn parse(
        method: LoginMethod,
        path: Option<&str>,
        args: &[String],
        stdin: &mut dyn Read,
        ask: &mut dyn FnMut(&str) -> anyhow::Result<String>,
    ) -> anyhow::Result<Credentials> {
        let (public_key, secret_key, prompt) = match method {
            LoginMethod::Token => return Credentials::token(args, stdin, ask),
            LoginMethod::Userpass => ("username", "password", "Password (will be hidden): "),
            LoginMethod::Approle => ("role_id", "secret_id", "Secret ID (will be hidden): "),
        };
        let mount = login_mount(method, path)?;
        let mut given = data::parse(args, stdin)?;
        if let Some(unknown) = given
            .keys()
            .find(|key| *key != public_key && *key != secret_key)
        {
            anyhow::bail!(
                "unknown login parameter {unknown:?} for -method={} (use {public_key}=… \
                 {secret_key}=…)",
                method.name()
            );
        }
        let public = string_parameter(&mut given, public_key)?
            .filter(|value| !value.is_empty())
            .with_context(|| format!("-method={} needs {public_key}=…", method.name()))?;
        let secret = match string_parameter(&mut given, secret_key)? {
            Some(secret) => Zeroizing::new(secret),
            None => Zeroizing::new(ask(prompt)?),
        };
        if method == LoginMethod::Approle {
            return Ok(Credentials::Method(MethodCredentials::Approle {
                mount,
                role_id: public,
                secret_id: secret,
            }));
        }
        if public.contains('/') {
            anyhow::bail!("a username cannot contain '/'");
        }
        Ok(Credentials::Method(MethodCredentials::Userpass {
            mount,
            username: public,
            password: secret,
        }))
    }

    /// `-method=token`: the one argument (`-` reads stdin, `token=…` works too), or `ask`.
    fn token(
        args: &[String],
        stdin: &mut dyn Read,
        ask: &mut dyn FnMut(&str) -> anyhow::Result<String>,
    ) -> anyhow::Result<Credentials> {
        let token = match args {
            [] => ask("Token (will be hidden): ")?,
            [one] if one == "-" => {
                let mut text = String::new();
                stdin.read_to_string(&mut text).context("reading stdin")?;
                text.trim().to_owned()
            }
            [one] => one.strip_prefix("token=").unwrap_or(one).to_owned(),
            _ => anyhow::bail!("-method=token takes one argument: the token"),
        };
        if token.is_empty() {
            anyhow::bail!("no token given");
        }
        Ok(Credentials::Token(Zeroizing::new(token)))
    }
}

impl MethodCredentials {
    /// The login request: the API path and the JSON body.
    fn request(&self) -> (String, Value) {
        match self {
            MethodCredentials::Userpass {
                mount,
                username,
                password,
            } => (
                format!("auth/{mount}/login/{username}"),
                json!({ "password": password.as_str() }),
            ),
            MethodCredentials::Approle {
                mount,
                role_id,
                secret_id,
            } => (
                format!("auth/{mount}/login"),
                json!({ "role_id": role_id, "secret_id": secret_id.as_str() }),
            ),
        }
    }
}

/// The auth mount to log in at: `-path`, or the method's name.
fn login_mount(method: LoginMethod, path: Option<&str>) -> anyhow::Result<String> {
    let mount = path.unwrap_or(method.name()).trim().trim_matches('/');
    if mount.is_empty() {
        anyhow::bail!("-path must name an auth mount, e.g. userpass");
    }
    Ok(mount.to_owned())
}

/// Takes a string parameter out of parsed `key=value` arguments; a repeated key is an error
/// that does not repeat the values. Trailing newlines (from `key=-` or `key=@file`) are dropped.
fn string_parameter(given: &mut Map<String, Value>, key: &str) -> anyhow::Result<Option<String>> {
    match given.remove(key) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.trim_end_matches(['\n', '\r']).to_owned())),
        Some(_) => anyhow::bail!("{key} was given more than once"),
    }
}

/// `coffer login [-method=token|userpass|approle] [-path=P] …`: authenticates, stores the
/// token in the token file (mode 0600) unless `-no-store`, and prints the token table.
pub(crate) async fn login(
    client: &Client,
    format: Format,
    args: LoginArgs,
) -> anyhow::Result<Outcome> {
    let mut ask = |prompt: &str| read_secret(None, prompt);
    let credentials = Credentials::parse(
        args.method,
        args.path.as_deref(),
        &args.args,
        &mut std::io::stdin(),
        &mut ask,
    )?;
    let (token, rows, full) = match &credentials {
        Credentials::Token(token) => {
            let envelope = client
                .with_token(token.as_str())
                .token_lookup_self()
                .await?;
            let rows = lookup_rows(token, &envelope.data.clone().unwrap_or_default());
            let full = serde_json::to_value(&envelope).context("encoding the reply")?;
            (token.clone(), rows, full)
        }
        Credentials::Method(method) => {
            let (path, body) = method.request();
            let reply = client
                .raw("PUT", &path, Some(&body))
                .await
                .with_context(|| format!("logging in at {path}"))?;
            let envelope: Envelope = match reply.body {
                Some(body) if reply.status != 404 => {
                    serde_json::from_value(body).context("decoding the login reply")?
                }
                _ => anyhow::bail!("logging in at {path}: the server has no such login path"),
            };
            let auth = envelope
                .auth
                .as_ref()
                .with_context(|| format!("logging in at {path}: the server returned no token"))?;
            let token = Zeroizing::new(auth.client_token.clone());
            let full = serde_json::to_value(&envelope).context("encoding the reply")?;
            (token, auth_rows(auth), full)
        }
    };
    if !args.no_store {
        let path = connection::store_token(&token)?;
        if format == Format::Table && args.field.is_none() {
            output::line(&format!(
                "Success! You are now authenticated. The token is stored in {} and will be used\n\
                 automatically by later commands (COFFER_TOKEN overrides it).\n",
                path.display()
            ));
        }
    } else if format == Format::Table && args.field.is_none() {
        output::line("Success! The token is valid (not stored because of -no-store).\n");
    }
    print_fields(format, args.field.as_deref(), &rows, &full)?;
    Ok(Outcome::Success)
}

/// The token table from a `lookup-self` reply, for `-method=token`.
fn lookup_rows(token: &str, data: &Map<String, Value>) -> Vec<(String, Value)> {
    let get = |key: &str| data.get(key).cloned().unwrap_or(Value::Null);
    vec![
        ("token".to_owned(), json!(token)),
        ("token_accessor".to_owned(), get("accessor")),
        (
            "token_duration".to_owned(),
            json!(duration_text(get("ttl").as_u64().unwrap_or(0))),
        ),
        ("token_renewable".to_owned(), get("renewable")),
        ("token_policies".to_owned(), get("policies")),
        ("identity_policies".to_owned(), json!([])),
        ("policies".to_owned(), get("policies")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_vault() {
        assert_eq!(duration_text(0), "∞");
        assert_eq!(duration_text(3600), "1h");
        assert_eq!(duration_text(5400), "1h30m");
        assert_eq!(duration_text(59), "59s");
        assert_eq!(duration_text(2_764_800), "768h");
    }

    /// Parses login arguments with `stdin` and a prompt that answers `asked`.
    fn parse(
        method: LoginMethod,
        path: Option<&str>,
        args: &[&str],
        stdin: &str,
    ) -> anyhow::Result<Credentials> {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let mut ask = |_: &str| Ok("asked".to_owned());
        Credentials::parse(method, path, &args, &mut stdin.as_bytes(), &mut ask)
    }

    /// `check(method, -path, args, stdin, expected request path and body)`.
    fn check_request(
        method: LoginMethod,
        path: Option<&str>,
        args: &[&str],
        stdin: &str,
        expected: Option<(&str, Value)>,
    ) {
        let credentials =
            parse(method, path, args, stdin).unwrap_or_else(|e| panic!("{args:?}: {e:#}"));
        let request = match credentials {
            Credentials::Token(_) => None,
            Credentials::Method(method) => Some(method.request()),
        };
        assert_eq!(
            request
                .as_ref()
                .map(|(path, body)| (path.as_str(), body.clone())),
            expected,
            "{args:?}"
        );
    }

    fn check_token(args: &[&str], stdin: &str, expected: &str) {
        match parse(LoginMethod::Token, None, args, stdin) {
            Ok(Credentials::Token(token)) => assert_eq!(token.as_str(), expected, "{args:?}"),
            other => panic!("{args:?} parsed as {other:?}"),
        }
    }

    fn check_error(method: LoginMethod, args: &[&str], expected: &str) {
        match parse(method, None, args, "") {
            Ok(credentials) => panic!("{args:?} parsed as {credentials:?}"),
            Err(error) => assert_eq!(format!("{error:#}"), expected, "{args:?}"),
        }
    }

    #[test]
    fn login_tokens() {
        check_token(&["s.abc"], "", "s.abc");
        check_token(&["token=s.abc"], "", "s.abc");
        check_token(&["-"], "s.stdin\n", "s.stdin");
        check_token(&[], "", "asked");
        check_error(
            LoginMethod::Token,
            &["a", "b"],
            "-method=token takes one argument: the token",
        );
        check_error(LoginMethod::Token, &["-"], "no token given");
    }

    #[test]
    fn login_requests() {
        use LoginMethod::{Approle, Userpass};
        check_request(
            Userpass,
            None,
            &["username=alice", "password=pw"],
            "",
            Some(("auth/userpass/login/alice", json!({"password": "pw"}))),
        );
        check_request(
            Userpass,
            Some("/people/"),
            &["username=alice"],
            "",
            Some(("auth/people/login/alice", json!({"password": "asked"}))),
        );
        check_request(
            Userpass,
            None,
            &["username=alice", "password=-"],
            "from stdin\n",
            Some((
                "auth/userpass/login/alice",
                json!({"password": "from stdin"}),
            )),
        );
        check_request(
            Approle,
            None,
            &["role_id=r-1", "secret_id=s-1"],
            "",
            Some((
                "auth/approle/login",
                json!({"role_id": "r-1", "secret_id": "s-1"}),
            )),
        );
        check_request(
            Approle,
            Some("ci"),
            &["role_id=r-1"],
            "",
            Some((
                "auth/ci/login",
                json!({"role_id": "r-1", "secret_id": "asked"}),
            )),
        );
        check_request(LoginMethod::Token, None, &["s.x"], "", None);
    }

    #[test]
    fn login_argument_errors_do_not_echo_secrets() {
        use LoginMethod::{Approle, Userpass};
        check_error(
            Userpass,
            &["password=pw"],
            "-method=userpass needs username=…",
        );
        check_error(
            Userpass,
            &["username="],
            "-method=userpass needs username=…",
        );
        check_error(
            Userpass,
            &["username=a", "pasword=s3cr3t"],
            "unknown login parameter \"pasword\" for -method=userpass (use username=… password=…)",
        );
        check_error(
            Userpass,
            &["username=a", "password=s3cr3t", "password=again"],
            "password was given more than once",
        );
        check_error(
            Userpass,
            &["username=a/b", "password=x"],
            "a username cannot contain '/'",
        );
        check_error(
            Approle,
            &["secret_id=s3cr3t"],
            "-method=approle needs role_id=…",
        );
        check_error(
            Userpass,
            &["s3cr3t"],
            "argument 1 must be key=value, key=@file, key=- or a lone -",
        );
        let credentials = parse(Userpass, None, &["username=alice", "password=s3cr3t"], "");
        let debug = format!("{credentials:?}");
        assert!(
            debug.contains("alice") && !debug.contains("s3cr3t"),
            "{debug}"
        );
        let token = format!("{:?}", parse(LoginMethod::Token, None, &["s.secret"], ""));
        assert!(!token.contains("s.secret"), "{token}");
    }
}
