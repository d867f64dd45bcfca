//! `coffer secrets export` and `coffer secrets import`: named secrets (issue #7's mapping on a
//! KV v2 mount) to and from dotenv, JSON and YAML files, optionally in a passphrase envelope.
//! Import checks the whole file and every conflict before it writes anything; the formats and
//! the envelope themselves live in `crate::transfer`, which does no I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal as _, Read as _, Write as _};

use anyhow::{Context as _, bail};
use clap::Args;
use coffer_client::Client;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use crate::commands::Outcome;
use crate::transfer::envelope::{self, Passphrase};
use crate::transfer::{self, ExportedSecret, ExportedVersion, FileFormat};

/// Sets above this many secrets show a progress bar (or periodic lines) on stderr.
const PROGRESS_THRESHOLD: usize = 50;

/// `coffer secrets export`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Only the secrets of this environment.
    #[arg(long)]
    pub(crate) env: Option<String>,
    /// Only secrets carrying every one of these tags (comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    pub(crate) tags: Vec<String>,
    /// The file format: dotenv (NAME=value only), json or yaml (everything).
    #[arg(long = "format-out", default_value = "json")]
    pub(crate) format_out: String,
    /// Also export every readable older version (JSON and YAML only).
    #[arg(long)]
    pub(crate) versions: bool,
    /// Encrypt with the passphrase in this file (argon2id + AES-256-GCM).
    #[arg(long = "passphrase-file", conflicts_with = "encrypt")]
    pub(crate) passphrase_file: Option<String>,
    /// Encrypt with a passphrase asked for on the terminal (or read from stdin).
    #[arg(long)]
    pub(crate) encrypt: bool,
    /// Where to write: a file (created with mode 0600), or `-` for stdout.
    #[arg(short = 'o', long = "output")]
    pub(crate) output: String,
    /// The KV v2 mount holding the secrets.
    #[arg(long, env = "COFFER_SECRETS_MOUNT", default_value = "secret")]
    pub(crate) mount: String,
}

/// `coffer secrets import`.
///
/// Import refuses the whole file when any of its secrets already exists, listing them, unless
/// -overwrite is given (each then gets a new version). A malformed file imports nothing.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The file to import, or `-` for stdin. Encrypted exports are recognised by their armor.
    pub(crate) file: String,
    /// The file format: dotenv, json or yaml (default: from the file name, else dotenv).
    #[arg(long = "format-in")]
    pub(crate) format_in: Option<String>,
    /// The environment of every secret that does not name its own (all of a dotenv file's).
    #[arg(long)]
    pub(crate) env: Option<String>,
    /// Replace secrets that already exist (as a new version) instead of refusing the import.
    #[arg(long)]
    pub(crate) overwrite: bool,
    /// The passphrase of an encrypted export, in this file (else asked for on the terminal).
    #[arg(long = "passphrase-file")]
    pub(crate) passphrase_file: Option<String>,
    /// The KV v2 mount to import into.
    #[arg(long, env = "COFFER_SECRETS_MOUNT", default_value = "secret")]
    pub(crate) mount: String,
}

/// Runs `coffer secrets export`.
pub(crate) async fn export(client: &Client, args: ExportArgs) -> anyhow::Result<Outcome> {
    let format = FileFormat::parse(&args.format_out)?;
    if args.versions && format == FileFormat::Dotenv {
        bail!("-versions needs -format-out=json or yaml: dotenv holds one value per name");
    }
    if let Some(env) = &args.env
        && !transfer::valid_name(env)
    {
        bail!("-env {env:?} is not a valid environment name");
    }
    for tag in &args.tags {
        if !transfer::valid_tag(tag) {
            bail!("-tags: {tag:?} is not a valid tag ([a-z0-9][a-z0-9_.-]{{0,63}})");
        }
    }
    let passphrase = match (&args.passphrase_file, args.encrypt) {
        (Some(path), _) => Some(passphrase_from_file(path)?),
        (None, true) => Some(prompt_passphrase(true)?),
        (None, false) => None,
    };
    let mount = args.mount.trim_matches('/');
    let paths = list_paths(client, mount, args.env.as_deref()).await?;
    let mut secrets = Vec::new();
    let mut progress = Progress::new("exporting", paths.len());
    for (env, name) in paths {
        if let Some(secret) = read_secret(client, mount, env, name, args.versions).await? {
            let tags = secret.tags();
            if args.tags.iter().all(|tag| tags.contains(&tag.as_str())) {
                secrets.push(secret);
            }
        }
        progress.step();
    }
    progress.finish();
    let text = match format {
        FileFormat::Dotenv => transfer::render_dotenv(&secrets)?,
        FileFormat::Json | FileFormat::Yaml => transfer::render_document(&secrets, format),
    };
    let out = match &passphrase {
        Some(passphrase) => Zeroizing::new(transfer::seal(&text, format, passphrase)?),
        None => text,
    };
    write_output(&args.output, &out)?;
    let versions: usize = secrets
        .iter()
        .map(|secret| secret.versions.as_ref().map_or(1, Vec::len))
        .sum();
    let what = if args.versions {
        format!(" ({versions} versions)")
    } else {
        String::new()
    };
    let sealed = if passphrase.is_some() {
        ", encrypted"
    } else {
        ""
    };
    eprintln!(
        "Exported {} secrets{what} from {mount}/ to {}{sealed}",
        secrets.len(),
        if args.output == "-" {
            "stdout"
        } else {
            &args.output
        }
    );
    Ok(Outcome::Success)
}

/// Runs `coffer secrets import`.
pub(crate) async fn import(client: &Client, args: ImportArgs) -> anyhow::Result<Outcome> {
    if let Some(env) = &args.env
        && !transfer::valid_name(env)
    {
        bail!("-env {env:?} is not a valid environment name");
    }
    let raw = read_input(&args.file)?;
    let (format, text) = if envelope::is_sealed(&raw) {
        let passphrase = match &args.passphrase_file {
            Some(path) => passphrase_from_file(path)?,
            None if args.file != "-" => prompt_passphrase(false)?,
            None => bail!("the export on stdin is encrypted: give -passphrase-file"),
        };
        transfer::open(&raw, &passphrase)?
    } else {
        let format = match &args.format_in {
            Some(format) => FileFormat::parse(format)?,
            None => FileFormat::guess(&args.file),
        };
        (format, raw)
    };
    let secrets = transfer::parse(&text, format, args.env.as_deref())
        .with_context(|| format!("{}: nothing was imported", args.file))?;
    drop(text);
    let mount = args.mount.trim_matches('/');
    let existing = existing_paths(client, mount, &secrets).await?;
    let conflicts: Vec<String> = secrets
        .iter()
        .map(ExportedSecret::path)
        .filter(|path| existing.contains(path))
        .collect();
    if !conflicts.is_empty() && !args.overwrite {
        let shown: Vec<&str> = conflicts.iter().take(20).map(String::as_str).collect();
        let more = conflicts.len().saturating_sub(shown.len());
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        let count = match conflicts.len() {
            1 => "1 secret already exists".to_owned(),
            n => format!("{n} secrets already exist"),
        };
        bail!(
            "{count} in {mount}/: {}{more}; nothing was imported (use -overwrite to write a new version of each)",
            shown.join(", ")
        );
    }
    let mut progress = Progress::new("importing", secrets.len());
    let mut written_versions = 0;
    for (done, secret) in secrets.iter().enumerate() {
        written_versions += write_secret(client, mount, secret).await.with_context(|| {
            format!(
                "writing {}: {done} of {} secrets were imported before this error",
                secret.path(),
                secrets.len()
            )
        })?;
        progress.step();
    }
    progress.finish();
    let replaced = if conflicts.is_empty() {
        String::new()
    } else {
        format!(", {} of them replaced", conflicts.len())
    };
    crate::output::line(&format!(
        "Imported {} secrets ({written_versions} versions) into {mount}/{replaced}",
        secrets.len()
    ));
    Ok(Outcome::Success)
}

/// Every `(env, name)` of the mount: top-level names, and names one folder down (the folder
/// being the environment). With `env`, that folder only.
async fn list_paths(
    client: &Client,
    mount: &str,
    env: Option<&str>,
) -> anyhow::Result<Vec<(Option<String>, String)>> {
    let mut paths = Vec::new();
    let folders = match env {
        Some(env) => vec![env.to_owned()],
        None => {
            let mut folders = Vec::new();
            for key in list_keys(client, &format!("{mount}/metadata/")).await? {
                match key.strip_suffix('/') {
                    Some(folder) => folders.push(folder.to_owned()),
                    None => paths.push((None, key)),
                }
            }
            folders
        }
    };
    for folder in folders {
        for key in list_keys(client, &format!("{mount}/metadata/{folder}/")).await? {
            if key.ends_with('/') {
                eprintln!("Skipping {folder}/{key}: deeper paths are not named secrets");
            } else {
                paths.push((Some(folder.clone()), key));
            }
        }
    }
    Ok(paths)
}

async fn list_keys(client: &Client, path: &str) -> anyhow::Result<Vec<String>> {
    let listing = client
        .list(path)
        .await
        .with_context(|| format!("listing {path}"))?;
    let keys = listing
        .and_then(|envelope| envelope.data)
        .and_then(|mut data| data.remove("keys"));
    Ok(match keys {
        Some(Value::Array(keys)) => keys
            .into_iter()
            .filter_map(|key| match key {
                Value::String(key) => Some(key),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    })
}

/// The paths among `secrets`' targets that already exist.
async fn existing_paths(
    client: &Client,
    mount: &str,
    secrets: &[ExportedSecret],
) -> anyhow::Result<BTreeSet<String>> {
    let mut existing = BTreeSet::new();
    let envs: BTreeSet<Option<&str>> = secrets.iter().map(|s| s.env.as_deref()).collect();
    for env in envs {
        let (path, prefix) = match env {
            Some(env) => (format!("{mount}/metadata/{env}/"), format!("{env}/")),
            None => (format!("{mount}/metadata/"), String::new()),
        };
        for key in list_keys(client, &path).await? {
            existing.insert(format!("{prefix}{key}"));
        }
    }
    Ok(existing)
}

/// Reads one secret (and with `versions` its readable versions); `None` when its current
/// version is deleted or destroyed.
async fn read_secret(
    client: &Client,
    mount: &str,
    env: Option<String>,
    name: String,
    versions: bool,
) -> anyhow::Result<Option<ExportedSecret>> {
    let path = match &env {
        Some(env) => format!("{env}/{name}"),
        None => name.clone(),
    };
    let Some(metadata) = client
        .read(&format!("{mount}/metadata/{path}"))
        .await
        .with_context(|| format!("reading the metadata of {path}"))?
        .and_then(|envelope| envelope.data)
    else {
        return Ok(None);
    };
    let custom_metadata: BTreeMap<String, String> = match metadata.get("custom_metadata") {
        Some(Value::Object(map)) => map
            .iter()
            .filter_map(|(key, value)| value.as_str().map(|value| (key.clone(), value.to_owned())))
            .collect(),
        _ => BTreeMap::new(),
    };
    let Some(data) = read_data(client, &format!("{mount}/data/{path}")).await? else {
        eprintln!("Skipping {path}: its current version is deleted");
        return Ok(None);
    };
    let versions = if versions {
        // Deleted and destroyed versions read as absent; `deletion_time` alone says nothing, as
        // `delete_version_after` sets it in the future on live versions.
        let mut numbers: Vec<u64> = match metadata.get("versions") {
            Some(Value::Object(map)) => map
                .keys()
                .filter_map(|number| number.parse().ok())
                .collect(),
            _ => Vec::new(),
        };
        numbers.sort_unstable();
        let mut list = Vec::with_capacity(numbers.len());
        for version in numbers {
            if let Some(data) =
                read_data(client, &format!("{mount}/data/{path}?version={version}")).await?
            {
                list.push(ExportedVersion { version, data });
            }
        }
        Some(list)
    } else {
        None
    };
    Ok(Some(ExportedSecret {
        name,
        env,
        data,
        custom_metadata,
        versions,
    }))
}

/// A KV v2 version's data; `None` when absent, deleted or destroyed.
async fn read_data(client: &Client, path: &str) -> anyhow::Result<Option<Map<String, Value>>> {
    let envelope = client
        .read(path)
        .await
        .with_context(|| format!("reading {path}"))?;
    Ok(envelope
        .and_then(|envelope| envelope.data)
        .and_then(|mut body| match body.remove("data") {
            Some(Value::Object(data)) => Some(data),
            _ => None,
        }))
}

/// Writes one secret: its versions oldest first (or just its value), then its metadata.
/// Returns how many versions it wrote.
async fn write_secret(
    client: &Client,
    mount: &str,
    secret: &ExportedSecret,
) -> anyhow::Result<usize> {
    let path = secret.path();
    let data_path = format!("{mount}/data/{path}");
    let mut bodies: Vec<&Map<String, Value>> = secret
        .versions
        .iter()
        .flatten()
        .map(|version| &version.data)
        .collect();
    if bodies.last() != Some(&&secret.data) {
        bodies.push(&secret.data);
    }
    for data in &bodies {
        let mut body = Map::new();
        body.insert("data".to_owned(), Value::Object((*data).clone()));
        client.write(&data_path, &body).await?;
    }
    let expiry = secret
        .custom_metadata
        .get(transfer::EXPIRES_KEY)
        .map_or("0s", String::as_str);
    let custom_metadata: Map<String, Value> = secret
        .custom_metadata
        .iter()
        .map(|(key, value)| (key.clone(), Value::String(value.clone())))
        .collect();
    let mut metadata = Map::new();
    metadata.insert("custom_metadata".to_owned(), Value::Object(custom_metadata));
    metadata.insert("delete_version_after".to_owned(), json!(expiry));
    client
        .write(&format!("{mount}/metadata/{path}"), &metadata)
        .await?;
    Ok(bodies.len())
}

fn read_input(file: &str) -> anyhow::Result<Zeroizing<String>> {
    let mut text = Zeroizing::new(String::new());
    if file == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading stdin")?;
    } else {
        std::fs::File::open(file)
            .and_then(|mut handle| handle.read_to_string(&mut text))
            .with_context(|| format!("reading {file}"))?;
    }
    Ok(text)
}

fn write_output(output: &str, text: &str) -> anyhow::Result<()> {
    if output == "-" {
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
            .context("writing to stdout")?;
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut handle = options
        .open(output)
        .with_context(|| format!("creating {output}"))?;
    handle
        .write_all(text.as_bytes())
        .and_then(|()| handle.sync_all())
        .with_context(|| format!("writing {output}"))
}

fn passphrase_from_file(path: &str) -> anyhow::Result<Passphrase> {
    let mut text = Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("reading the passphrase file {path}"))?,
    );
    while text.ends_with(['\n', '\r']) {
        text.pop();
    }
    Passphrase::new(text).with_context(|| format!("the passphrase file {path}"))
}

/// Asks for a passphrase on the terminal without echo (twice when `confirm`), or reads one line
/// from stdin when it is not a terminal.
fn prompt_passphrase(confirm: bool) -> anyhow::Result<Passphrase> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Passphrase::new(read_line()?);
    }
    let _echo = EchoOff::new();
    eprint!("Passphrase: ");
    let first = read_line()?;
    eprintln!();
    if confirm {
        eprint!("Passphrase again: ");
        let second = read_line()?;
        eprintln!();
        if *first != *second {
            bail!("the passphrases differ");
        }
    }
    Passphrase::new(first)
}

fn read_line() -> anyhow::Result<Zeroizing<String>> {
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the passphrase")?;
    while line.ends_with(['\n', '\r']) {
        line.pop();
    }
    Ok(line)
}

/// Turns terminal echo off with `stty` while alive (no terminal crate needed for one prompt).
struct EchoOff;

impl EchoOff {
    fn new() -> EchoOff {
        let _ = std::process::Command::new("stty").arg("-echo").status();
        EchoOff
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        let _ = std::process::Command::new("stty").arg("echo").status();
    }
}

/// Progress on stderr for large sets: a redrawn `[=====>    ] 120/1000` bar on a terminal,
/// a line every tenth of the way otherwise.
struct Progress {
    label: &'static str,
    total: usize,
    done: usize,
    terminal: bool,
}

impl Progress {
    fn new(label: &'static str, total: usize) -> Progress {
        Progress {
            label,
            total,
            done: 0,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    fn shown(&self) -> bool {
        self.total > PROGRESS_THRESHOLD
    }

    fn step(&mut self) {
        self.done += 1;
        if !self.shown() {
            return;
        }
        if self.terminal {
            eprint!("\r{}", bar(self.label, self.done, self.total));
        } else if self.done.is_multiple_of(self.total.div_ceil(10)) || self.done == self.total {
            eprintln!("{}", bar(self.label, self.done, self.total));
        }
    }

    fn finish(&self) {
        if self.shown() && self.terminal {
            eprintln!();
        }
    }
}

/// One progress line: `importing [=====>    ] 120/1000`.
fn bar(label: &str, done: usize, total: usize) -> String {
    const WIDTH: usize = 30;
    let filled = (done * WIDTH)
        .checked_div(total)
        .unwrap_or(WIDTH)
        .min(WIDTH);
    let mut bar = "=".repeat(filled);
    if filled < WIDTH {
        bar.push('>');
        bar.push_str(&" ".repeat(WIDTH - filled - 1));
    }
    format!("{label} [{bar}] {done}/{total}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_bar_lines() {
        assert_eq!(
            bar("importing", 0, 10),
            format!("importing [>{}] 0/10", " ".repeat(29))
        );
        assert_eq!(
            bar("importing", 5, 10),
            format!("importing [{}>{}] 5/10", "=".repeat(15), " ".repeat(14))
        );
        assert_eq!(
            bar("importing", 10, 10),
            format!("importing [{}] 10/10", "=".repeat(30))
        );
    }
}
