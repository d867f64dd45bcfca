//! `coffer run [-path P ...] [-env E] [-mount M] [-mask] [-cache] -- CMD ARGS`: runs a command
//! with secrets as environment variables (never written to disk). A secret holding only
//! `{"value": x}` becomes a variable named after its last path segment; a secret with other keys
//! exports each key. Without `-path`, every secret directly under `<env>/` (or the mount root) is
//! exported. All secrets are read in one `sys/batch/read` request. The child's exit code is
//! passed through (death by signal N exits 128+N, like a shell), SIGINT/SIGTERM/SIGHUP are
//! forwarded to it, and `-mask` replaces secret values in its stdout and stderr by `*****`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::process::Stdio;

use anyhow::Context;
use clap::Args;
use serde_json::{Map, Value};
use tokio::signal::unix::{SignalKind, signal};
use zeroize::Zeroizing;

use crate::cli::ClientArgs;
use crate::commands::Outcome;
use crate::commands::secret_read::{self, Reader, SourceArgs};
use crate::commands::secret_ref::field_text;

/// What replaces a secret value in masked output.
const MASK: &[u8] = b"*****";

/// `coffer run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// A secret to export, as a path in the mount, e.g. `API_KEY` or `myapp/database`
    /// (repeatable; default: every secret directly under the environment or the mount root).
    #[arg(long = "path")]
    pub(crate) paths: Vec<String>,
    /// Where the secrets are read from.
    #[command(flatten)]
    pub(crate) source: SourceArgs,
    /// Replace every secret value in the command's stdout and stderr by `*****`.
    #[arg(long)]
    pub(crate) mask: bool,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub(crate) command: Vec<OsString>,
}

/// Runs `coffer run`: reads the secrets, runs the command with them, and returns its exit code.
pub(crate) async fn run(client_args: &ClientArgs, args: RunArgs) -> anyhow::Result<Outcome> {
    let mount = secret_read::checked_mount(&args.source.mount)?;
    let env = secret_read::checked_env(args.source.env.as_deref())?;
    let mut reader = Reader::new(client_args, args.source.cache)?;
    let vars = read_variables(&mut reader, mount, env, &args.paths).await?;
    reader.finish()?;

    let (program, rest) = args
        .command
        .split_first()
        .context("no command given: coffer run [flags] -- COMMAND [ARGS]")?;
    let mut command = std::process::Command::new(program);
    command.args(rest).stdin(Stdio::inherit());
    for (name, value) in &vars {
        command.env(name, value.as_str());
    }
    let secrets: Vec<Vec<u8>> = vars.values().map(|v| v.as_bytes().to_vec()).collect();
    drop(vars);
    if args.mask {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
    } else {
        command.stdout(Stdio::inherit()).stderr(Stdio::inherit());
    }

    // Handlers are installed before the child exists, so no signal is lost in between.
    let mut interrupt = signal(SignalKind::interrupt()).context("installing a SIGINT handler")?;
    let mut terminate = signal(SignalKind::terminate()).context("installing a SIGTERM handler")?;
    let mut hangup = signal(SignalKind::hangup()).context("installing a SIGHUP handler")?;

    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) => {
            let shown = program.to_string_lossy();
            eprintln!("Error: cannot run {shown}: {error}");
            // Like a shell: 127 when the command is not found, 126 when it cannot be run.
            let code = if error.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            return Ok(Outcome::Exit(code));
        }
    };
    // The copies run on their own threads: reading and writing pipes blocks.
    let mut copies = Vec::new();
    if args.mask {
        let masker = Masker::new(secrets);
        if let Some(stdout) = child.stdout.take() {
            let masker = masker.clone();
            copies.push(std::thread::spawn(move || {
                copy_masked(stdout, std::io::stdout(), masker)
            }));
        }
        if let Some(stderr) = child.stderr.take() {
            copies.push(std::thread::spawn(move || {
                copy_masked(stderr, std::io::stderr(), masker)
            }));
        }
    }
    let pid = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    let mut waiting = tokio::task::spawn_blocking(move || child.wait());
    let status = loop {
        let forward = tokio::select! {
            status = &mut waiting => {
                break status
                    .context("waiting for the command")?
                    .context("waiting for the command")?;
            }
            _ = interrupt.recv() => rustix::process::Signal::INT,
            _ = terminate.recv() => rustix::process::Signal::TERM,
            _ = hangup.recv() => rustix::process::Signal::HUP,
        };
        if let Some(pid) = pid {
            // The child may have exited in between; then there is nobody left to tell.
            let _ = rustix::process::kill_process(pid, forward);
        }
    };
    for copy in copies {
        let joined = tokio::task::spawn_blocking(move || copy.join())
            .await
            .context("waiting for the output copy")?;
        match joined {
            Ok(result) => result?,
            Err(_) => anyhow::bail!("copying the command's output failed"),
        }
    }
    Ok(Outcome::Exit(exit_code(status)))
}

/// The exit code a shell would report for `status`.
fn exit_code(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt as _;
    if let Some(code) = status.code() {
        return u8::try_from(code & 0xff).unwrap_or(1);
    }
    match status.signal() {
        Some(signal) => u8::try_from(128 + (signal & 0x7f)).unwrap_or(1),
        None => 1,
    }
}

/// Reads the secrets and turns them into environment variables, by name.
async fn read_variables(
    reader: &mut Reader,
    mount: &str,
    env: Option<&str>,
    paths: &[String],
) -> anyhow::Result<BTreeMap<String, Zeroizing<String>>> {
    let explicit = !paths.is_empty();
    let paths: Vec<String> = if explicit {
        for path in paths {
            check_path(path)?;
        }
        paths.to_vec()
    } else {
        let folder = match env {
            Some(env) => format!("{mount}/metadata/{env}/"),
            None => format!("{mount}/metadata/"),
        };
        reader.list_secrets(&folder).await?
    };
    let data_paths: Vec<String> = paths
        .iter()
        .map(|p| secret_read::data_path(mount, env, p))
        .collect();
    let secrets = reader.read_many(&data_paths).await?;
    let mut vars: BTreeMap<String, Zeroizing<String>> = BTreeMap::new();
    let mut origin: BTreeMap<String, String> = BTreeMap::new();
    for ((path, data_path), data) in paths.iter().zip(&data_paths).zip(secrets) {
        let Some(data) = data else {
            if explicit {
                anyhow::bail!("secret {data_path} not found");
            }
            // Listed but its latest version is deleted: nothing to export.
            continue;
        };
        for (name, value) in variables_of(path, &data)? {
            if let Some(first) = origin.insert(name.clone(), data_path.clone()) {
                anyhow::bail!(
                    "two secrets set the variable {name}: {first} and {data_path}; pick one with -path"
                );
            }
            vars.insert(name, value);
        }
    }
    Ok(vars)
}

fn check_path(path: &str) -> anyhow::Result<()> {
    let valid = !path.is_empty()
        && path
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..");
    if !valid {
        anyhow::bail!(
            "invalid -path {path:?}: expected a secret path like API_KEY or myapp/database"
        );
    }
    Ok(())
}

/// The variables one secret exports: `{"value": x}` alone is named after the path's last segment,
/// anything else exports each key.
fn variables_of(
    path: &str,
    data: &Map<String, Value>,
) -> anyhow::Result<Vec<(String, Zeroizing<String>)>> {
    let only_value = data.len() == 1 && data.contains_key("value");
    let mut out = Vec::with_capacity(data.len());
    for (key, value) in data {
        let name = if only_value {
            path.rsplit('/').next().unwrap_or(path)
        } else {
            key.as_str()
        };
        out.push((
            variable_name(name, path)?,
            Zeroizing::new(field_text(value)),
        ));
    }
    Ok(out)
}

/// An environment variable name for `name`: `-` and `.` become `_`; the result must match
/// `[A-Za-z_][A-Za-z0-9_]*`.
fn variable_name(name: &str, path: &str) -> anyhow::Result<String> {
    let mapped: String = name
        .chars()
        .map(|c| if c == '-' || c == '.' { '_' } else { c })
        .collect();
    let valid = mapped
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && mapped
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        anyhow::bail!("{name:?} of secret {path} cannot be an environment variable name");
    }
    Ok(mapped)
}

/// Replaces secret values in a byte stream by [`MASK`], also when a value is split across
/// reads: bytes that could start a value are held back until the value is complete or ruled out.
#[derive(Clone)]
struct Masker {
    /// The values, longest first, so the longest match wins.
    secrets: std::sync::Arc<Vec<Zeroizing<Vec<u8>>>>,
    pending: Zeroizing<Vec<u8>>,
}

impl Masker {
    fn new(secrets: Vec<Vec<u8>>) -> Masker {
        let mut secrets: Vec<Zeroizing<Vec<u8>>> = secrets
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(Zeroizing::new)
            .collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Masker {
            secrets: std::sync::Arc::new(secrets),
            pending: Zeroizing::new(Vec::new()),
        }
    }

    /// Feeds `input`, appending to `out` what can be written now. At `end` nothing is held back.
    fn feed(&mut self, input: &[u8], end: bool, out: &mut Vec<u8>) {
        self.pending.extend_from_slice(input);
        let buffer = std::mem::take(&mut *self.pending);
        let mut at = 0;
        'scan: while at < buffer.len() {
            let rest = &buffer[at..];
            for secret in self.secrets.iter() {
                if rest.starts_with(secret) {
                    out.extend_from_slice(MASK);
                    at += secret.len();
                    continue 'scan;
                }
            }
            if !end
                && self
                    .secrets
                    .iter()
                    .any(|s| s.len() > rest.len() && s.starts_with(rest))
            {
                break;
            }
            out.push(buffer[at]);
            at += 1;
        }
        self.pending.extend_from_slice(&buffer[at..]);
        drop(Zeroizing::new(buffer));
    }
}

/// Copies `from` to `to`, masking secret values, writing and flushing after every read.
fn copy_masked(
    mut from: impl std::io::Read,
    mut to: impl std::io::Write,
    mut masker: Masker,
) -> anyhow::Result<()> {
    let mut buffer = vec![0u8; 8192];
    let mut out = Vec::with_capacity(8192);
    loop {
        let read = match from.read(&mut buffer) {
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error).context("reading the command's output"),
        };
        out.clear();
        masker.feed(&buffer[..read], read == 0, &mut out);
        if !out.is_empty() {
            // A closed terminal or pipe on our side is not the command's failure.
            if to.write_all(&out).and_then(|()| to.flush()).is_err() {
                return Ok(());
            }
        }
        if read == 0 {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn masked(secrets: &[&str], chunks: &[&str]) -> String {
        let mut masker = Masker::new(secrets.iter().map(|s| s.as_bytes().to_vec()).collect());
        let mut out = Vec::new();
        for chunk in chunks {
            masker.feed(chunk.as_bytes(), false, &mut out);
        }
        masker.feed(b"", true, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn masks_values_also_across_reads() {
        assert_eq!(masked(&["hunter2"], &["pw=hunter2\n"]), "pw=*****\n");
        assert_eq!(masked(&["hunter2"], &["pw=hun", "ter2 ok"]), "pw=***** ok");
        assert_eq!(masked(&["hunter2"], &["pw=hun", "gry"]), "pw=hungry");
        assert_eq!(masked(&["hunter2"], &["end: hunt"]), "end: hunt");
        assert_eq!(
            masked(&["abc", "abcdef"], &["x abcdef abc"]),
            "x ***** *****"
        );
        assert_eq!(masked(&[""], &["nothing"]), "nothing");
    }

    #[test]
    fn variables_from_secrets() {
        let single = json!({"value": "v1"});
        let vars = variables_of("prod/API_KEY", single.as_object().expect("object")).expect("ok");
        assert_eq!(vars.len(), 1);
        assert_eq!(vars[0].0, "API_KEY");
        assert_eq!(vars[0].1.as_str(), "v1");
        let many = json!({"user": "u", "db-password": "p", "port": 5432});
        let vars = variables_of("myapp/database", many.as_object().expect("object")).expect("ok");
        let names: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["db_password", "port", "user"]);
        assert_eq!(vars[1].1.as_str(), "5432");
        let bad = json!({"value": "v"});
        let error = variables_of("1st", bad.as_object().expect("object")).expect_err("digit");
        assert!(format!("{error}").contains("environment variable name"));
    }

    #[test]
    fn paths_are_checked() {
        assert!(check_path("a/b").is_ok());
        for bad in ["", "/a", "a/", "a//b", "../x"] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
    }
}
