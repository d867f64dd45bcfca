//! `coffer run` and `coffer inject` against a real dev server (#7): secrets as the child's
//! environment, exit codes and signals passed through, masked output, templates rendered with
//! references, escapes, nesting and cycles, bad references refused without writing, and the
//! encrypted offline cache used when the server is gone.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Map, Value, json};

use crate::support::{TestServer, coffer_bin, stderr, stdout};

/// A dev server with root token `root`, and the CLI pointed at it.
struct Cli {
    // Fields drop in order: the server stops before its directory is removed.
    server: TestServer,
    home: PathBuf,
    dir: tempfile::TempDir,
}

impl Cli {
    fn start() -> Cli {
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
        Cli { server, home, dir }
    }

    fn command(&self, args: &[&str]) -> Command {
        command_for(&self.home, &self.server.addr, args)
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args)
            .stdin(Stdio::null())
            .output()
            .expect("run coffer")
    }

    /// Writes KV v2 secret `path` in `secret/` with `data`.
    async fn put(&self, path: &str, data: Value) {
        let mut body = Map::new();
        body.insert("data".into(), data);
        self.server
            .root_client()
            .write(&format!("secret/data/{path}"), &body)
            .await
            .expect("write secret");
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn command_for(home: &Path, addr: &str, args: &[&str]) -> Command {
    let mut command = Command::new(coffer_bin());
    command
        .args(args)
        .env_clear()
        .env("HOME", home)
        .env("COFFER_ADDR", addr)
        .env("COFFER_TOKEN", "root")
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    command
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

fn env_lines(out: &Output) -> Vec<String> {
    stdout(out).lines().map(str::to_owned).collect()
}

#[tokio::test]
async fn issue_7_run_exports_secrets_and_passes_exit_codes_through() {
    let cli = Cli::start();
    cli.put("API_KEY", json!({"value": "dev-key-123"})).await;
    cli.put("production/API_KEY", json!({"value": "prod-key-456"}))
        .await;
    cli.put(
        "production/DB",
        json!({"user": "app", "password": "db-pw-789", "port": 5432}),
    )
    .await;

    // One path: named after its last segment.
    let out = cli.run(&["run", "-path", "API_KEY", "--", "env"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(env_lines(&out).contains(&"API_KEY=dev-key-123".to_owned()));

    // An environment without -path: every secret under production/, several keys each exported.
    let out = cli.run(&["run", "-env", "production", "--", "env"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let lines = env_lines(&out);
    for expected in [
        "API_KEY=prod-key-456",
        "user=app",
        "password=db-pw-789",
        "port=5432",
    ] {
        assert!(
            lines.contains(&expected.to_owned()),
            "{expected}: {lines:?}"
        );
    }

    // The mount root: secrets directly under it, not the folders.
    let out = cli.run(&["run", "--", "env"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let lines = env_lines(&out);
    assert!(
        lines.contains(&"API_KEY=dev-key-123".to_owned()),
        "{lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.starts_with("password=")),
        "{lines:?}"
    );

    // Everything after `--` is the command's, flags included.
    let out = cli.run(&["run", "--", "sh", "-c", "echo \"$1\"", "sh", "-format=json"]);
    assert_eq!(stdout(&out), "-format=json\n", "{}", stderr(&out));

    // Exit codes: as given, 128+N for a signal, 127 for a missing command.
    let out = cli.run(&["run", "--", "sh", "-c", "exit 7"]);
    assert_eq!(code(&out), Some(7), "{}", stderr(&out));
    let out = cli.run(&["run", "--", "sh", "-c", "kill -KILL $$"]);
    assert_eq!(code(&out), Some(137), "{}", stderr(&out));
    let out = cli.run(&["run", "--", "/nonexistent/command"]);
    assert_eq!(code(&out), Some(127), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot run /nonexistent/command"));

    // A missing secret: a clear error and the command never runs.
    let marker = cli.path("ran");
    let marker_arg = marker.display().to_string();
    let out = cli.run(&["run", "-path", "NOPE", "--", "touch", &marker_arg]);
    assert_eq!(code(&out), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("secret secret/data/NOPE not found"),
        "{}",
        stderr(&out)
    );
    assert!(!marker.exists());

    // Bad input: a bad environment, a bad path, no command.
    let out = cli.run(&["run", "-env", "Prod!", "--", "true"]);
    assert_eq!(code(&out), Some(1));
    assert!(
        stderr(&out).contains("invalid environment"),
        "{}",
        stderr(&out)
    );
    let out = cli.run(&["run", "-path", "a//b", "--", "true"]);
    assert_eq!(code(&out), Some(1));
    assert!(stderr(&out).contains("invalid -path"), "{}", stderr(&out));
    let out = cli.run(&["run", "-path", "API_KEY"]);
    assert_ne!(code(&out), Some(0));
}

#[tokio::test]
async fn issue_7_run_masks_values_in_stdout_and_stderr() {
    let cli = Cli::start();
    cli.put(
        "production/DB",
        json!({"user": "app-user", "password": "db-pw-789"}),
    )
    .await;
    let script = "echo \"p=$password\"; echo \"u=$user\" >&2; \
                  printf 'split=db-pw'; sleep 0.05; printf -- '-789 done\\n'";
    let out = cli.run(&[
        "run",
        "-env",
        "production",
        "-mask",
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "p=*****\nsplit=***** done\n");
    assert_eq!(stderr(&out), "u=*****\n");

    // Without -mask the values pass unchanged.
    let out = cli.run(&[
        "run",
        "-env",
        "production",
        "--",
        "sh",
        "-c",
        "echo $password",
    ]);
    assert_eq!(stdout(&out), "db-pw-789\n");
}

#[tokio::test]
async fn issue_7_sigterm_to_coffer_run_reaches_the_child() {
    let cli = Cli::start();
    cli.put("API_KEY", json!({"value": "k"})).await;
    let marker = cli.path("terminated");
    let script = format!(
        "trap 'echo got-term > {}; exit 3' TERM; echo ready; while :; do sleep 0.05; done",
        marker.display()
    );
    let mut child = cli
        .command(&["run", "-path", "API_KEY", "--", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn coffer run");
    let mut ready = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut ready)
        .expect("read ready");
    assert_eq!(ready, "ready\n");
    // Only `coffer run` gets the signal; the child hears of it through the forwarding.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(3));
    let written = std::fs::read_to_string(&marker).expect("the child's trap ran");
    assert_eq!(written, "got-term\n");
}

#[tokio::test]
async fn issue_7_inject_renders_references_and_refuses_bad_ones() {
    let cli = Cli::start();
    cli.put("myapp/database", json!({"user": "app", "password": "pw-1"}))
        .await;
    cli.put("API_KEY", json!({"value": "key-2"})).await;
    cli.put(
        "myapp/url",
        json!({"value": "postgres://app:coffer://secret/myapp/database#password@db/app"}),
    )
    .await;
    cli.put("production/API_KEY", json!({"value": "prod-key"}))
        .await;
    cli.put("loop/a", json!({"value": "coffer://secret/loop/b"}))
        .await;
    cli.put("loop/b", json!({"value": "then coffer://secret/loop/a"}))
        .await;

    let template = cli.path("app.env.tmpl");
    std::fs::write(
        &template,
        "USER=coffer://secret/myapp/database#user\n\
         PASSWORD=coffer://secret/myapp/database#password\n\
         API_KEY=coffer://secret/API_KEY\n\
         URL=coffer://secret/myapp/url\n\
         DOC=see \\coffer://secret/API_KEY for the key\n",
    )
    .expect("template");
    let output = cli.path("app.env");
    let (t, o) = (template.display().to_string(), output.display().to_string());
    let out = cli.run(&["inject", "-i", &t, "-o", &o]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&output).expect("rendered"),
        "USER=app\nPASSWORD=pw-1\nAPI_KEY=key-2\nURL=postgres://app:pw-1@db/app\n\
         DOC=see coffer://secret/API_KEY for the key\n"
    );
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&output)
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // -env reads below production/.
    let env_template = cli.path("env.tmpl");
    std::fs::write(&env_template, "K=coffer://secret/API_KEY").expect("template");
    let env_out = cli.path("env.out");
    let (et, eo) = (
        env_template.display().to_string(),
        env_out.display().to_string(),
    );
    let out = cli.run(&["inject", "-i", &et, "-o", &eo, "-env", "production"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&env_out).expect("out"),
        "K=prod-key"
    );

    // Failures: a clear message naming the reference, non-zero exit, the file untouched.
    let cases = [
        (
            "X=coffer://secret/missing/thing#k",
            "secret not found for reference coffer://secret/missing/thing#k",
        ),
        (
            "X=coffer://secret/myapp/database#nope",
            "field \"nope\" not found for reference coffer://secret/myapp/database#nope",
        ),
        ("X=coffer://secret/loop/a", "reference cycle"),
        ("X=coffer://secret", "malformed reference coffer://secret"),
        ("X=coffer://secret/a#", "malformed reference"),
    ];
    for (text, expected) in cases {
        let bad = cli.path("bad.tmpl");
        std::fs::write(&bad, text).expect("template");
        let b = bad.display().to_string();
        let fresh = cli.path("never.env");
        let f = fresh.display().to_string();
        let out = cli.run(&["inject", "-i", &b, "-o", &f]);
        assert_eq!(code(&out), Some(1), "{text}: {}", stdout(&out));
        assert!(stderr(&out).contains(expected), "{text}: {}", stderr(&out));
        assert!(!fresh.exists(), "{text}: nothing is written");
        let out = cli.run(&["inject", "-i", &b, "-o", &o]);
        assert_ne!(code(&out), Some(0));
        assert!(
            std::fs::read_to_string(&output)
                .expect("still there")
                .starts_with("USER=app\n"),
            "{text}: an existing file is left as it was"
        );
    }
    assert!(
        !std::fs::read_dir(cli.dir.path())
            .expect("dir")
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().starts_with(".coffer-")),
        "no temporary file is left behind"
    );
}

#[tokio::test]
async fn issue_7_cache_serves_secrets_when_the_server_is_gone() {
    let cli = Cli::start();
    cli.put("API_KEY", json!({"value": "cached-key-1"})).await;
    let Cli { server, home, dir } = cli;
    let addr = server.addr.clone();
    let run = |args: &[&str], cache_env: bool| {
        let mut command = command_for(&home, &addr, args);
        if cache_env {
            command.env("COFFER_CACHE", "1");
        }
        command.stdin(Stdio::null()).output().expect("run coffer")
    };

    // Off by default: nothing is stored.
    let out = run(&["run", "-path", "API_KEY", "--", "true"], false);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let cache_dir = home.join(".cache").join("coffer");
    assert!(!cache_dir.exists());

    // With COFFER_CACHE=1 what was read is stored encrypted, mode 0600.
    let out = run(&["run", "-path", "API_KEY", "--", "true"], true);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let files: Vec<PathBuf> = std::fs::read_dir(&cache_dir)
        .expect("cache dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let bytes = std::fs::read(&files[0]).expect("cache file");
    assert!(
        !bytes.windows(12).any(|w| w == b"cached-key-1"),
        "encrypted"
    );
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&files[0])
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    server.kill9();

    // The server is gone: with the cache, the value comes from it with a warning.
    let out = run(&["run", "-cache", "-path", "API_KEY", "--", "env"], false);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(env_lines(&out).contains(&"API_KEY=cached-key-1".to_owned()));
    assert!(
        stderr(&out).contains("Warning: the server cannot be reached"),
        "{}",
        stderr(&out)
    );

    let template = dir.path().join("t.tmpl");
    std::fs::write(&template, "K=coffer://secret/API_KEY").expect("template");
    let output = dir.path().join("t.out");
    let (t, o) = (template.display().to_string(), output.display().to_string());
    let out = run(&["inject", "-cache", "-i", &t, "-o", &o], false);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&output).expect("out"),
        "K=cached-key-1"
    );

    // A path never cached, and no cache at all: clear errors.
    let out = run(&["run", "-cache", "-path", "OTHER", "--", "true"], false);
    assert_eq!(code(&out), Some(1));
    assert!(
        stderr(&out).contains("secret/data/OTHER is not in the local cache"),
        "{}",
        stderr(&out)
    );
    let out = run(&["run", "-path", "API_KEY", "--", "true"], false);
    assert_eq!(code(&out), Some(1));

    // Another token cannot read the cache.
    let out = command_for(
        &home,
        &addr,
        &["run", "-cache", "-path", "API_KEY", "--", "true"],
    )
    .env("COFFER_TOKEN", "other-token")
    .stdin(Stdio::null())
    .output()
    .expect("run");
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    drop(dir);
}

#[test]
fn issue_7_run_and_inject_work_against_openbao_without_batch_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let peer = crate::support::BaoServer::dev(dir.path());
    let put = crate::support::bao(
        &home,
        &peer.addr,
        Some("root"),
        &["kv", "put", "secret/production/API_KEY", "value=bao-key-1"],
    );
    assert_eq!(code(&put), Some(0), "{}", stderr(&put));

    // OpenBao has no sys/batch/read: the reads fall back to one request per secret.
    let out = command_for(
        &home,
        &peer.addr,
        &["run", "-env", "production", "--", "env"],
    )
    .stdin(Stdio::null())
    .output()
    .expect("run");
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(env_lines(&out).contains(&"API_KEY=bao-key-1".to_owned()));

    let template = dir.path().join("t.tmpl");
    std::fs::write(&template, "K=coffer://secret/production/API_KEY").expect("template");
    let output = dir.path().join("t.out");
    let (t, o) = (template.display().to_string(), output.display().to_string());
    let out = command_for(&home, &peer.addr, &["inject", "-i", &t, "-o", &o])
        .stdin(Stdio::null())
        .output()
        .expect("inject");
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&output).expect("out"),
        "K=bao-key-1"
    );
}
