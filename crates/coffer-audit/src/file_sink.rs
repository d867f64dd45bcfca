//! The file sink: appends each line to a file created with a mode without execute bits
//! (default 0600), or writes to standard output when the path is `-`. Writes run on the blocking
//! pool, one `write` of line plus newline each, then a flush.

use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::sink::AuditSink;

/// The file mode Vault and Coffer use by default.
pub const DEFAULT_FILE_MODE: u32 = 0o600;

/// The path that means standard output.
const STDOUT_PATH: &str = "-";

/// Appends lines to a file (or standard output).
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    mode: u32,
    output: Arc<Mutex<Output>>,
}

#[derive(Debug)]
enum Output {
    File(File),
    Stdout,
}

impl FileSink {
    /// Opens `path` for appending, creating it (and missing parent directories, mode 0700) with
    /// `mode`, and sets an existing file's mode to `mode`. `-` is standard output. A mode with
    /// any execute bit, or bits beyond 0777, is refused with [`Error::Config`].
    pub fn open(path: &Path, mode: u32) -> Result<FileSink> {
        check_mode(mode)?;
        let output = if path == Path::new(STDOUT_PATH) {
            Output::Stdout
        } else {
            Output::File(open_file(path, mode).map_err(|e| device_error(path, &e))?)
        };
        Ok(FileSink {
            path: path.to_owned(),
            mode,
            output: Arc::new(Mutex::new(output)),
        })
    }

    /// The path written to.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl AuditSink for FileSink {
    async fn write_line(&self, line: &[u8]) -> Result<()> {
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line);
        buf.push(b'\n');
        let output = Arc::clone(&self.output);
        let written = tokio::task::spawn_blocking(move || {
            let mut output = output.lock().unwrap_or_else(PoisonError::into_inner);
            match &mut *output {
                Output::File(file) => {
                    file.write_all(&buf)?;
                    file.flush()
                }
                Output::Stdout => {
                    let mut stdout = std::io::stdout().lock();
                    stdout.write_all(&buf)?;
                    stdout.flush()
                }
            }
        })
        .await;
        match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(device_error(&self.path, &e)),
            Err(_) => Err(Error::Device {
                name: self.path.display().to_string(),
                reason: "the writing task did not finish".to_owned(),
            }),
        }
    }

    async fn reopen(&self) -> Result<()> {
        let path = self.path.clone();
        let mode = self.mode;
        let output = Arc::clone(&self.output);
        let reopened = tokio::task::spawn_blocking(move || {
            if path == Path::new(STDOUT_PATH) {
                return Ok(());
            }
            let file = open_file(&path, mode)?;
            let mut output = output.lock().unwrap_or_else(PoisonError::into_inner);
            *output = Output::File(file);
            Ok(())
        })
        .await;
        match reopened {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(device_error(&self.path, &e)),
            Err(_) => Err(Error::Device {
                name: self.path.display().to_string(),
                reason: "the reopening task did not finish".to_owned(),
            }),
        }
    }
}

/// Refuses execute bits (Vault's rule since CVE-2025-6000) and anything beyond permissions.
pub(crate) fn check_mode(mode: u32) -> Result<()> {
    if mode & 0o111 != 0 {
        return Err(Error::Config(format!(
            "file mode {mode:04o} has an execute bit; audit files may not be executable"
        )));
    }
    if mode & !0o777 != 0 {
        return Err(Error::Config(format!(
            "file mode {mode:o} has bits beyond 0777"
        )));
    }
    Ok(())
}

fn open_file(path: &Path, mode: u32) -> std::io::Result<File> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
        && !parent.exists()
    {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(mode)
        .open(path)?;
    // The umask may have narrowed a new file's mode, and an existing file keeps its own.
    file.set_permissions(Permissions::from_mode(mode))?;
    Ok(file)
}

fn device_error(path: &Path, error: &std::io::Error) -> Error {
    Error::Device {
        name: path.display().to_string(),
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        let check = |mode: u32, ok: bool| {
            assert_eq!(check_mode(mode).is_ok(), ok, "{mode:o}");
        };
        check(0o600, true);
        check(0o640, true);
        check(0o644, true);
        check(0o666, true);
        check(0o400, true);
        check(0o000, true);
        check(0o700, false);
        check(0o610, false);
        check(0o601, false);
        check(0o755, false);
        check(0o4600, false);
        check(0o1600, false);
    }
}
