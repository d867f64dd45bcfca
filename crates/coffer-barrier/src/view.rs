//! Storage views: a barrier seen through a path prefix. An engine holding a [`View`] reaches
//! only the paths under its prefix, and sees them relative to it.

use std::sync::Arc;

use zeroize::Zeroizing;

use crate::barrier::{Barrier, BarrierOp, Stamp};
use crate::{Error, Result};

/// The barrier under one prefix. Paths given to a view are relative: they may not start with
/// `/` nor contain a `..` segment, and keys it returns are relative too.
#[derive(Clone)]
pub struct View {
    barrier: Arc<Barrier>,
    /// Empty (the whole barrier) or ending with `/`.
    prefix: String,
}

impl View {
    pub(crate) fn new(barrier: Arc<Barrier>, prefix: &str) -> View {
        let mut prefix = prefix.to_owned();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        View { barrier, prefix }
    }

    /// The full storage prefix of this view (empty, or ending with `/`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A view of `prefix` inside this one; like [`Barrier::view`], the prefix is taken literally
    /// and gets a trailing `/`.
    pub fn sub(&self, prefix: &str) -> View {
        View::new(
            Arc::clone(&self.barrier),
            &format!("{}{prefix}", self.prefix),
        )
    }

    /// See [`Barrier::get`].
    pub async fn get(&self, path: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let full = self.entry(path)?;
        self.barrier.get(&full).await
    }

    /// See [`Barrier::get_stamped`].
    pub async fn get_stamped(&self, path: &str) -> Result<Option<(Zeroizing<Vec<u8>>, Stamp)>> {
        let full = self.entry(path)?;
        self.barrier.get_stamped(&full).await
    }

    /// See [`Barrier::put`].
    pub async fn put(&self, path: &str, value: &[u8]) -> Result<()> {
        let full = self.entry(path)?;
        self.barrier.put(&full, value).await
    }

    /// See [`Barrier::delete`].
    pub async fn delete(&self, path: &str) -> Result<()> {
        let full = self.entry(path)?;
        self.barrier.delete(&full).await
    }

    /// See [`Barrier::list`]; `prefix` is relative to the view and may be empty.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let full = self.folder(prefix)?;
        self.barrier.list(&full).await
    }

    /// See [`Barrier::scan`]; `prefix` and `after` are relative to the view, and so are the
    /// returned keys.
    pub async fn scan(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>> {
        let full = self.folder(prefix)?;
        let after = after.map(|a| self.folder(a)).transpose()?;
        let keys = self.barrier.scan(&full, after.as_deref(), limit).await?;
        Ok(keys
            .into_iter()
            .filter_map(|k| k.strip_prefix(&self.prefix).map(str::to_owned))
            .collect())
    }

    /// See [`Barrier::scan_records`]; `prefix` and `after` are relative to the view, and so are
    /// the returned paths.
    pub async fn scan_records(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Zeroizing<Vec<u8>>)>> {
        let full = self.folder(prefix)?;
        let after = after.map(|a| self.folder(a)).transpose()?;
        let records = self
            .barrier
            .scan_records(&full, after.as_deref(), limit)
            .await?;
        Ok(records
            .into_iter()
            .filter_map(|(path, value)| {
                path.strip_prefix(&self.prefix)
                    .map(|relative| (relative.to_owned(), value))
            })
            .collect())
    }

    /// See [`Barrier::transaction`]; every path is relative to the view.
    pub async fn transaction(&self, ops: Vec<BarrierOp>) -> Result<()> {
        self.barrier.ensure_unsealed()?;
        let ops = ops
            .into_iter()
            .map(|op| {
                Ok(match op {
                    BarrierOp::Put { path, value } => BarrierOp::Put {
                        path: self.join(&path)?,
                        value,
                    },
                    BarrierOp::Delete { path } => BarrierOp::Delete {
                        path: self.join(&path)?,
                    },
                    BarrierOp::Expect { path, stamp } => BarrierOp::Expect {
                        path: self.join(&path)?,
                        stamp,
                    },
                    BarrierOp::ExpectEmpty { prefix } => BarrierOp::ExpectEmpty {
                        prefix: self.folder(&prefix)?,
                    },
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.barrier.transaction(ops).await
    }

    /// The full path of an entry; checks the seal first so a sealed view says so.
    fn entry(&self, path: &str) -> Result<String> {
        self.barrier.ensure_unsealed()?;
        self.join(path)
    }

    /// The full path of a listing prefix (which may be empty).
    fn folder(&self, prefix: &str) -> Result<String> {
        self.barrier.ensure_unsealed()?;
        check_relative(prefix)?;
        Ok(format!("{}{prefix}", self.prefix))
    }

    fn join(&self, path: &str) -> Result<String> {
        if path.is_empty() {
            return Err(invalid(path, "path is empty"));
        }
        check_relative(path)?;
        Ok(format!("{}{path}", self.prefix))
    }
}

impl std::fmt::Debug for View {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("View")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Refuses what could be read as leaving the view: a leading `/` or a `..` segment.
fn check_relative(path: &str) -> Result<()> {
    if path.starts_with('/') {
        return Err(invalid(path, "a view path may not start with /"));
    }
    if path.split('/').any(|segment| segment == "..") {
        return Err(invalid(path, "a view path may not contain a .. segment"));
    }
    Ok(())
}

fn invalid(path: &str, reason: &'static str) -> Error {
    Error::InvalidPath {
        path: path.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_checked() {
        fn check(path: &str, want: Option<&str>) {
            let got = check_relative(path).err().map(|e| match e {
                Error::InvalidPath { reason, .. } => reason,
                other => panic!("{path:?}: unexpected {other:?}"),
            });
            assert_eq!(got, want, "{path:?}");
        }
        let leading = Some("a view path may not start with /");
        let dots = Some("a view path may not contain a .. segment");
        check("", None);
        check("a", None);
        check("a/b/c", None);
        check("a/", None);
        check("a..b", None);
        check("..a/b..", None);
        check("./a", None);
        check("/", leading);
        check("/a", leading);
        check("..", dots);
        check("../a", dots);
        check("a/..", dots);
        check("a/../b", dots);
        check("a/../../b", dots);
    }
}
