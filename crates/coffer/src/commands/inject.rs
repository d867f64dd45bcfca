//! `coffer inject -i TEMPLATE -o FILE [-env E] [-cache]`: renders a template, replacing each
//! reference `coffer://<mount>/<path>[#field]` by the secret's field (`value` by default) and each
//! escape `\coffer://` by a literal `coffer://`. References inside referenced values are resolved
//! too (see `secret_ref`). The output is written with mode 0600 through a temporary file and a
//! rename; on any error (a missing secret or field, a cycle, a malformed reference) nothing is
//! written and the command exits non-zero.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use zeroize::Zeroizing;

use crate::cli::ClientArgs;
use crate::commands::Outcome;
use crate::commands::secret_cache::write_private_atomically;
use crate::commands::secret_read::{self, Reader, SourceArgs};
use crate::commands::secret_ref::{self, Fetched, MAX_DEPTH, SecretRef};

/// `coffer inject`.
#[derive(Debug, Args)]
pub(crate) struct InjectArgs {
    /// The template to render.
    #[arg(short = 'i', long = "in", value_name = "TEMPLATE")]
    pub(crate) input: PathBuf,
    /// The file to write (mode 0600, replaced atomically).
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub(crate) output: PathBuf,
    /// Where the secrets are read from (`-mount` is unused: each reference names its mount).
    #[command(flatten)]
    pub(crate) source: SourceArgs,
}

/// Runs `coffer inject`.
pub(crate) async fn run(client_args: &ClientArgs, args: InjectArgs) -> anyhow::Result<Outcome> {
    let env = secret_read::checked_env(args.source.env.as_deref())?;
    let template = std::fs::read_to_string(&args.input)
        .with_context(|| format!("reading the template {}", args.input.display()))?;
    let where_ = format!("template {}", args.input.display());
    let mut reader = Reader::new(client_args, args.source.cache)?;
    let fetched = fetch_all(&mut reader, &template, &where_, env).await?;
    let rendered = Zeroizing::new(secret_ref::render(&template, &where_, &fetched)?);
    reader.finish()?;
    write_private_atomically(&args.output, rendered.as_bytes())
        .with_context(|| format!("writing {}", args.output.display()))?;
    Ok(Outcome::Success)
}

/// Reads every secret the template references, and the secrets their values reference, level by
/// level: one `sys/batch/read` request per level of nesting.
async fn fetch_all(
    reader: &mut Reader,
    template: &str,
    where_: &str,
    env: Option<&str>,
) -> anyhow::Result<Fetched> {
    let mut fetched = Fetched::new();
    let mut wanted: Vec<SecretRef> = secret_ref::references(template, where_)?;
    // One level more than rendering follows, so a too-deep chain is reported as such.
    for _level in 0..=MAX_DEPTH {
        let mut keys: Vec<(String, String)> = wanted
            .iter()
            .map(|r| (r.mount().to_owned(), r.path().to_owned()))
            .filter(|key| !fetched.contains_key(key))
            .collect();
        keys.sort();
        keys.dedup();
        if !keys.is_empty() {
            let mut paths = Vec::with_capacity(keys.len());
            for (mount, path) in &keys {
                let mount = secret_read::checked_mount(mount)?;
                paths.push(secret_read::data_path(mount, env, path));
            }
            let answers = reader.read_many(&paths).await?;
            fetched.extend(keys.into_iter().zip(answers));
        }
        let mut next = Vec::new();
        for reference in &wanted {
            if let Some(value) = secret_ref::lookup(&fetched, reference)? {
                let value = Zeroizing::new(value);
                let inner = format!("the value of {reference}");
                next.extend(secret_ref::references(&value, &inner)?);
            }
        }
        if next.is_empty() {
            break;
        }
        wanted = next;
    }
    Ok(fetched)
}
