//! Test support: a real `coffer` server process on 127.0.0.1 port 0 with its own temp directory,
//! the `coffer` CLI as a subprocess, and the real OpenBao binary (`bao`) as CLI and peer server.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use coffer_client::{Client, ClientConfig};
use serde_json::Value;

/// The `coffer` binary under test.
pub(crate) fn coffer_bin() -> &'static str {
    env!("CARGO_BIN_EXE_coffer")
}

/// The real `bao` binary, installed by `scripts/setup-test-env`.
pub(crate) fn bao_bin() -> PathBuf {
    let path = std::env::var_os("COFFER_BAO")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/compat/venv/bin/bao")
        });
    assert!(
        path.exists(),
        "the bao binary is missing at {}: run scripts/setup-test-env",
        path.display()
    );
    path
}

/// A running `coffer server`.
pub(crate) struct TestServer {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub addr: String,
    /// Root token (dev mode).
    pub root_token: Option<String>,
    /// The server's log file.
    pub log: PathBuf,
}

/// What the server printed before it started serving.
struct Banner {
    listen: String,
    root_token: Option<String>,
}

impl TestServer {
    /// A server from a config file written into `dir`.
    pub(crate) fn with_config(dir: &Path, config: &str) -> TestServer {
        let path = dir.join("coffer.hcl");
        std::fs::write(&path, config).expect("write config");
        let arg = format!("-config={}", path.display());
        let scheme = if config.contains("tls_cert_file") {
            "https"
        } else {
            "http"
        };
        Self::spawn(dir, &["server", &arg], scheme)
    }

    /// A server started with these exact arguments (plain HTTP).
    pub(crate) fn spawn_args(dir: &Path, args: &[&str]) -> TestServer {
        Self::spawn(dir, args, "http")
    }

    /// A non-dev server on SQLite at `dir/coffer.db`, listening on a free port.
    pub(crate) fn sqlite(dir: &Path) -> TestServer {
        Self::with_config(dir, &sqlite_config(dir))
    }

    fn spawn(dir: &Path, args: &[&str], scheme: &str) -> TestServer {
        let log = dir.join(format!("server-{}.log", std::process::id()));
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open log");
        let mut child = Command::new(coffer_bin())
            .args(args)
            .env_remove("COFFER_ADDR")
            .env_remove("VAULT_ADDR")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("spawn coffer server");
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut listen = None;
            let mut root_token = None;
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.trim().strip_prefix("Listen Address:") {
                    listen = Some(rest.trim().to_owned());
                }
                if let Some(rest) = line.trim().strip_prefix("Root Token:") {
                    root_token = Some(rest.trim().to_owned());
                }
                if line.contains("Coffer server started") && !sent {
                    sent = true;
                    let _ = tx.send(listen.clone().map(|listen| Banner {
                        listen,
                        root_token: root_token.clone(),
                    }));
                }
            }
            if !sent {
                let _ = tx.send(None);
            }
        });
        let banner = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Some(banner)) => banner,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                let logs = std::fs::read_to_string(&log).unwrap_or_default();
                panic!(
                    "coffer server did not start ({}): {logs}",
                    if other.is_err() { "timeout" } else { "exited" }
                );
            }
        };
        TestServer {
            child: Some(child),
            addr: format!("{scheme}://{}", banner.listen),
            root_token: banner.root_token,
            log,
        }
    }

    /// A client with no token.
    pub(crate) fn client(&self) -> Client {
        Client::new(ClientConfig::new(self.addr.clone())).expect("client")
    }

    /// A client with the dev root token.
    pub(crate) fn root_client(&self) -> Client {
        self.client().with_token(
            self.root_token
                .clone()
                .expect("dev server has a root token"),
        )
    }

    /// `kill -9`: no chance to flush anything.
    pub(crate) fn kill9(mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for the process to exit.
    pub(crate) fn terminate(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        wait_timeout(&mut child, Duration::from_secs(60)).expect("server exits after SIGTERM")
    }

    /// The server's log so far.
    pub(crate) fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs a command that is expected to exit by itself, killing it after a minute.
pub(crate) fn run_to_exit(command: &mut Command) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let status = wait_timeout(&mut child, Duration::from_secs(60));
    let output = child.wait_with_output().expect("collect output");
    assert!(
        status.is_some(),
        "the command did not exit: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    output
}

/// A config for a non-dev server on SQLite in `dir`.
pub(crate) fn sqlite_config(dir: &Path) -> String {
    format!(
        r#"storage "sqlite" {{
  path = "{}"
}}
listener "tcp" {{
  address     = "127.0.0.1:0"
  tls_disable = true
}}
log_level = "debug"
log_format = "json"
"#,
        dir.join("coffer.db").display()
    )
}

/// A free TCP port on 127.0.0.1 (for peers that cannot report a port-0 bind).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Runs the `coffer` CLI with a clean environment pointing at `addr`, `HOME` at `home`.
pub(crate) fn coffer_cli(home: &Path, addr: &str, token: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(coffer_bin());
    command
        .args(args)
        .env_clear()
        .env("HOME", home)
        .env("COFFER_ADDR", addr)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    if let Some(token) = token {
        command.env("COFFER_TOKEN", token);
    }
    command
        .stdin(Stdio::null())
        .output()
        .expect("run coffer CLI")
}

/// Runs the `bao` CLI against `addr` with `token`.
pub(crate) fn bao(home: &Path, addr: &str, token: Option<&str>, args: &[&str]) -> Output {
    bao_command(home, addr, token, args)
        .stdin(Stdio::null())
        .output()
        .expect("run bao")
}

/// Runs the `bao` CLI like [`bao`], with `input` on its stdin (for `bao policy write NAME -`).
pub(crate) fn bao_with_stdin(
    home: &Path,
    addr: &str,
    token: Option<&str>,
    args: &[&str],
    input: &str,
) -> Output {
    let mut child = bao_command(home, addr, token, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bao");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin
        .write_all(input.as_bytes())
        .expect("write bao's stdin");
    // Closing stdin ends the input, as the end of a heredoc does.
    drop(stdin);
    child.wait_with_output().expect("run bao")
}

/// The `bao` command with a clean environment pointing at `addr`, `HOME` at `home`.
fn bao_command(home: &Path, addr: &str, token: Option<&str>, args: &[&str]) -> Command {
    let mut command = Command::new(bao_bin());
    command
        .args(args)
        .env_clear()
        .env("HOME", home)
        .env("BAO_ADDR", addr)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    if let Some(token) = token {
        command.env("BAO_TOKEN", token);
    }
    command
}

/// stdout as text.
pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// stderr as text.
pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// stdout parsed as JSON, with a helpful panic.
pub(crate) fn stdout_json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): stdout={} stderr={}",
            stdout(output),
            stderr(output)
        )
    })
}

/// A real OpenBao server (non-dev, in-memory storage) as a peer.
pub(crate) struct BaoServer {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub addr: String,
}

impl BaoServer {
    /// Starts `bao server` with in-memory storage on a free port and waits until it answers.
    pub(crate) fn start(dir: &Path) -> BaoServer {
        let port = free_port();
        let config = dir.join("bao.hcl");
        std::fs::write(
            &config,
            format!("storage \"inmem\" {{}}\nlistener \"tcp\" {{\n address = \"127.0.0.1:{port}\"\n tls_disable = true\n}}\ndisable_mlock = true\n"),
        )
        .expect("write bao config");
        let log = std::fs::File::create(dir.join("bao.log")).expect("bao log");
        let child = Command::new(bao_bin())
            .args(["server", &format!("-config={}", config.display())])
            .stdout(Stdio::from(log.try_clone().expect("clone log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn bao server");
        let addr = format!("http://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "bao server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        BaoServer { child, addr }
    }

    /// Starts `bao server -dev -dev-root-token-id=root` on a free port (its cluster listener
    /// takes the next port, so both must be free) and waits until the server reports it started,
    /// which is after the dev `secret/` KV v2 mount is ready.
    pub(crate) fn dev(dir: &Path) -> BaoServer {
        let port = free_port_pair();
        let log_path = dir.join("bao-dev.log");
        let log = std::fs::File::create(&log_path).expect("bao log");
        let child = Command::new(bao_bin())
            .args([
                "server",
                "-dev",
                "-dev-root-token-id=root",
                &format!("-dev-listen-address=127.0.0.1:{port}"),
            ])
            .env_clear()
            .env("HOME", dir)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("clone log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn bao dev server");
        let mut server = BaoServer {
            child,
            addr: format!("http://127.0.0.1:{port}"),
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            if log.contains("OpenBao server started!") {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("bao dev server exited ({status}): {log}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "bao dev server did not start: {log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A free port `p` on 127.0.0.1 whose neighbour `p + 1` is free too.
fn free_port_pair() -> u16 {
    for _ in 0..100 {
        let port = free_port();
        let Some(next) = port.checked_add(1) else {
            continue;
        };
        if std::net::TcpListener::bind(("127.0.0.1", next)).is_ok() {
            return port;
        }
    }
    panic!("no two adjacent free ports on 127.0.0.1");
}

impl Drop for BaoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// JSON output becomes masked JSON; anything else becomes its non-blank lines with section
/// banners (`=== Metadata ===`) trimmed of their width, table rules (`---`) dropped, runs of
/// spaces collapsed and volatile tokens masked.
pub(crate) fn normalize(text: &str, addr: &str) -> Value {
    let text = text.replace(addr, "<addr>");
    if let Ok(json) = serde_json::from_str::<Value>(&text) {
        return mask_json(json);
    }
    let lines = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.chars().all(|c| c == '-' || c == ' '))
        .map(|line| {
            if line.starts_with('=') && line.ends_with('=') {
                format!("== {} ==", line.trim_matches('=').trim())
            } else {
                line.split_whitespace()
                    .map(mask_token)
                    .collect::<Vec<_>>()
                    .join(" ")
            }
        })
        .map(Value::String)
        .collect();
    Value::Array(lines)
}

/// Masks volatile values inside JSON output and drops `request_id`.
pub(crate) fn mask_json(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(key, _)| key != "request_id")
                .map(|(key, value)| (key, mask_json(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(mask_json).collect()),
        Value::String(text) => Value::String(mask_token(&text)),
        other => other,
    }
}

/// Replaces a timestamp, UUID or mount accessor with a placeholder; anything else is kept.
pub(crate) fn mask_token(token: &str) -> String {
    if is_timestamp(token) {
        "<time>".into()
    } else if is_uuid(token) {
        "<uuid>".into()
    } else if is_accessor(token) {
        "<accessor>".into()
    } else {
        token.into()
    }
}

/// `2026-11-22T15:49:48.098676613Z` (RFC 3339 in UTC, any fraction).
fn is_timestamp(text: &str) -> bool {
    let shape = text.char_indices().all(|(i, c)| match i {
        4 | 7 => c == '-',
        10 => c == 'T',
        13 | 16 => c == ':',
        0..=18 => c.is_ascii_digit(),
        _ => c.is_ascii_digit() || c == '.' || c == 'Z',
    });
    shape && text.len() >= 20 && text.ends_with('Z')
}

fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// `kv_492f3343`, `cubbyhole_f33e74df`: a mount type, `_`, eight hex digits.
fn is_accessor(text: &str) -> bool {
    text.rsplit_once('_').is_some_and(|(kind, id)| {
        !kind.is_empty()
            && kind.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            && id.len() == 8
            && id.chars().all(|c| c.is_ascii_hexdigit())
    })
}

/// A dev server (root token `root`) and a CLI home pointed at it: the fixture of the CLI tests.
pub(crate) struct DevCli {
    // Fields drop in order: the server stops before its directory is removed.
    pub(crate) server: TestServer,
    pub(crate) home: PathBuf,
    pub(crate) dir: tempfile::TempDir,
}

impl DevCli {
    /// Starts a dev server on a free port with a fresh CLI home.
    pub(crate) fn start() -> DevCli {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).expect("home");
        let server = TestServer::spawn_args(
            dir.path(),
            &[
                "server",
                "-dev",
                "-dev-root-token-id=root",
                "-dev-listen-address=127.0.0.1:0",
            ],
        );
        DevCli { server, home, dir }
    }

    /// Runs the CLI with the root token.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        coffer_cli(&self.home, &self.server.addr, Some("root"), args)
    }

    /// Runs the CLI, asserts exit 0 and returns stdout.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: stdout={} stderr={}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    /// Runs the CLI with `-format=json`, asserts exit 0 and parses stdout.
    pub(crate) fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("-format=json");
        let out = self.run(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        stdout_json(&out)
    }

    /// Runs the CLI, asserts it exited with `code` and returns stderr.
    pub(crate) fn fails_with(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: stdout={} stderr={}",
            stdout(&out),
            stderr(&out)
        );
        stderr(&out)
    }

    /// Runs the CLI, asserts any non-zero exit and returns stderr.
    pub(crate) fn fails_nonzero(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_ne!(
            out.status.code(),
            Some(0),
            "{args:?} should fail: stdout={}",
            stdout(&out)
        );
        stderr(&out)
    }

    /// Runs the CLI with `input` on stdin.
    pub(crate) fn run_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut child = Command::new(coffer_bin())
            .args(args)
            .env_clear()
            .env("HOME", &self.home)
            .env("COFFER_ADDR", &self.server.addr)
            .env("COFFER_TOKEN", "root")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn coffer CLI");
        child
            .stdin
            .take()
            .expect("stdin piped")
            .write_all(input.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("coffer CLI output")
    }

    /// A path in the test directory.
    pub(crate) fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// Writes `text` to a file in the test directory and returns its path.
    pub(crate) fn file(&self, name: &str, text: &str) -> String {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write file");
        path
    }
}
