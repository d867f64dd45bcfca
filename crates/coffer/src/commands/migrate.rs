//! `coffer operator migrate`: copies every stored record from one storage backend to another
//! (SQLite to PostgreSQL and back), like `vault operator migrate`.
//!
//! The records are barrier-encrypted bytes and are copied as they are, so the destination is the
//! same server: start it on the new storage and unseal it with the same shares (or the same
//! auto-unseal key). The server must not run on either store meanwhile; an SQLite file another
//! process has open is refused. The copy itself, its verification and its checkpoint are
//! `coffer_storage::migration`'s; this module opens the stores and draws the progress bar.

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;

use anyhow::{Context, bail};
use coffer_storage::migration::{self, MigrationConfig, Progress};
use coffer_storage::sqlite::SqliteConfig;

use super::Outcome;
use crate::cli::MigrateArgs;
use crate::config::{self, ServerConfig, StorageConfig};
use crate::output;
use crate::server::open_storage;

/// The most value bytes one transaction carries.
const BATCH_BYTES: usize = 8 << 20;
/// Width of the progress bar, in characters.
const BAR_WIDTH: usize = 30;

/// Runs `coffer operator migrate`.
pub(crate) async fn run(args: MigrateArgs) -> anyhow::Result<Outcome> {
    let (source, destination) = match (&args.config, &args.from, &args.to) {
        (Some(file), _, _) => config::load_migration(file)?,
        (None, Some(from), Some(to)) => (
            ServerConfig::load(from)?.storage,
            ServerConfig::load(to)?.storage,
        ),
        _ => bail!("give -config FILE, or both -from CONFIG and -to CONFIG"),
    };
    if args.batch_size == 0 {
        bail!("-batch-size must be at least 1");
    }
    if source == destination {
        bail!("the source and the destination are the same storage");
    }
    check_store("source", &source).await?;
    check_store("destination", &destination).await?;

    let from = open_storage(&source)
        .await
        .context("opening the migration source")?;
    let to = open_storage(&destination)
        .await
        .context("opening the migration destination")?;
    let config = MigrationConfig {
        source_label: label(&source),
        start: args.start.clone(),
        reset: args.reset,
        batch_keys: args.batch_size,
        batch_bytes: BATCH_BYTES,
    };
    output::error_line(&format!(
        "Migrating {} to {}",
        label(&source),
        label(&destination)
    ));
    let mut bar = ProgressBar::new(std::io::stderr().is_terminal());
    let result = migration::migrate(&from, &to, &config, &mut |progress| bar.show(progress)).await;
    bar.finish();
    // Close both stores whatever happened, so SQLite checkpoints its WAL.
    let closed_from = from.close().await;
    let closed_to = to.close().await;
    let summary = result.map_err(|error| match error {
        coffer_storage::Error::DestinationNotEmpty { .. } => anyhow::Error::new(error)
            .context("refusing to migrate: pass -reset to erase the destination first"),
        other => anyhow::Error::new(other).context("migration failed"),
    })?;
    closed_from.context("closing the migration source")?;
    closed_to.context("closing the migration destination")?;

    if summary.erased > 0 {
        output::error_line(&format!(
            "Erased {} keys from the destination first (-reset)",
            thousands(summary.erased)
        ));
    }
    if let Some(after) = &summary.resumed_after {
        output::error_line(&format!(
            "Resumed an interrupted migration after key {after:?}"
        ));
    }
    output::line(&format!(
        "Success! Migrated {} keys ({} copied by this run), every record verified.",
        thousands(summary.total),
        thousands(summary.copied)
    ));
    Ok(Outcome::Success)
}

/// Refuses stores a migration cannot use: memory (nothing to copy, nowhere to keep), a missing
/// SQLite source, and an SQLite file a running server holds open.
async fn check_store(role: &str, store: &StorageConfig) -> anyhow::Result<()> {
    match store {
        StorageConfig::Memory => {
            bail!("the {role} is in-memory storage; migrate needs a durable one")
        }
        StorageConfig::Sqlite { path } => {
            if role == "source" && !path.exists() {
                bail!("the source SQLite file {} does not exist", path.display());
            }
            coffer_storage::sqlite::ensure_not_in_use(&SqliteConfig::new(path.clone()))
                .await
                .with_context(|| format!("checking the {role}"))
        }
        StorageConfig::Postgres { .. } => Ok(()),
    }
}

/// Names a store without secrets (a PostgreSQL URL may hold a password).
fn label(store: &StorageConfig) -> String {
    match store {
        StorageConfig::Memory => "inmem".to_owned(),
        StorageConfig::Sqlite { path } => format!("sqlite {}", absolute(path)),
        StorageConfig::Postgres {
            connection_url,
            table,
            schema,
            ..
        } => {
            let target = postgres_target(connection_url);
            match schema {
                Some(schema) => format!("postgresql {target} {schema}.{table}"),
                None => format!("postgresql {target} {table}"),
            }
        }
    }
}

fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string()
}

/// `host:port/database` of a PostgreSQL URL, never its user or password.
fn postgres_target(url: &str) -> String {
    let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    else {
        return "(connection string)".to_owned();
    };
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    rest.split('?').next().unwrap_or(rest).to_owned()
}

/// `1234567` → `1,234,567`.
fn thousands(number: u64) -> String {
    let digits = number.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The progress display on stderr: a bar redrawn in place on a terminal, otherwise a line each
/// time another twentieth of the keys is done.
struct ProgressBar {
    terminal: bool,
    /// The last twentieth a line was printed for.
    reported: Option<u64>,
    drawn: bool,
}

impl ProgressBar {
    fn new(terminal: bool) -> Self {
        Self {
            terminal,
            reported: None,
            drawn: false,
        }
    }

    fn show(&mut self, progress: Progress) {
        let mut stderr = std::io::stderr().lock();
        // A progress display that cannot be written is no reason to stop copying.
        if self.terminal {
            let _ = write!(stderr, "\r{}", render(progress));
            let _ = stderr.flush();
            self.drawn = true;
            return;
        }
        let step = (progress.done * 20)
            .checked_div(progress.total)
            .unwrap_or(20);
        if self.reported.is_none_or(|reported| step > reported) || progress.done == progress.total {
            if self.reported != Some(step) {
                let _ = writeln!(stderr, "{}", render(progress));
            }
            self.reported = Some(step);
        }
    }

    fn finish(&mut self) {
        if self.drawn {
            let _ = writeln!(std::io::stderr());
        }
    }
}

/// `[=============>                ] 4,200/10,000 keys`.
fn render(progress: Progress) -> String {
    let filled = usize::try_from(
        (progress.done * BAR_WIDTH as u64)
            .checked_div(progress.total)
            .unwrap_or(BAR_WIDTH as u64),
    )
    .unwrap_or(BAR_WIDTH)
    .min(BAR_WIDTH);
    let mut bar = "=".repeat(filled);
    if filled < BAR_WIDTH {
        bar.push('>');
    }
    format!(
        "[{bar:<BAR_WIDTH$}] {}/{} keys",
        thousands(progress.done),
        thousands(progress.total)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_renders_a_bar_and_grouped_counts() {
        let shown = |done, total| render(Progress { done, total });
        assert_eq!(
            shown(4_200, 10_000),
            "[============>                 ] 4,200/10,000 keys"
        );
        assert_eq!(shown(0, 0), format!("[{}] 0/0 keys", "=".repeat(30)));
        assert_eq!(shown(0, 7), "[>                             ] 0/7 keys");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }

    #[test]
    fn labels_never_show_a_password() {
        let store = StorageConfig::Postgres {
            connection_url: "postgres://coffer:hunter2@db.example:5432/coffer?sslmode=disable"
                .to_owned(),
            table: "coffer_kv".to_owned(),
            schema: Some("prod".to_owned()),
            max_connections: 4,
            ha_table: None,
        };
        assert_eq!(
            label(&store),
            "postgresql db.example:5432/coffer prod.coffer_kv"
        );
        let keyword = StorageConfig::Postgres {
            connection_url: "host=db password=hunter2".to_owned(),
            table: "t".to_owned(),
            schema: None,
            max_connections: 4,
            ha_table: None,
        };
        assert_eq!(label(&keyword), "postgresql (connection string) t");
    }
}
