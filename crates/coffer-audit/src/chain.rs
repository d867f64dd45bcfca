//! The hash chain that makes a log tamper-evident. Every record carries `"seq": N` (per device,
//! from 1) and `"prev_hash": "sha256:<hex>"`, the SHA-256 of the exact bytes of the line before it
//! (without its newline); the first record links to [`GENESIS`], the SHA-256 of nothing. After
//! every [`CHECKPOINT_INTERVAL`]th record, and at the top of a file reopened for rotation, the
//! device writes a checkpoint line `{"type":"checkpoint","seq":N,"hash":"sha256:<hex>","time":…}`
//! whose `hash` is the chain's head (the SHA-256 of the line before it) and whose `seq` is the
//! last record's; the next record links to the checkpoint line. A verifier can start at a
//! checkpoint when the start of the chain is in an older, rotated file. A file device resumes
//! the chain from its file's last line; opened on a missing or empty file it starts a new chain.

use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::Path;

use ring::digest;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A checkpoint line follows every record whose `seq` is a multiple of this.
pub const CHECKPOINT_INTERVAL: u64 = 1000;

/// The `prev_hash` of a chain's first record: the SHA-256 of the empty string.
pub const GENESIS: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The prefix of chain hashes.
const SHA256_PREFIX: &str = "sha256:";

/// How many bytes at a time the tail of a log is read to find its last line.
const TAIL_CHUNK: u64 = 64 * 1024;

/// Where a device's chain stands: the last `seq` written and the hash of the last line. Give it
/// to [`crate::Device::new`] to resume a chain after a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainState {
    seq: u64,
    head: [u8; 32],
    checkpoint_due: bool,
}

impl ChainState {
    /// A new chain: the next record is `seq` 1 and links to [`GENESIS`].
    pub fn genesis() -> ChainState {
        ChainState {
            seq: 0,
            head: sha256(b""),
            checkpoint_due: false,
        }
    }

    /// Resumes after `line`, the last line of an existing log (without its newline).
    pub fn from_last_line(line: &[u8]) -> Result<ChainState> {
        let parsed = parse_line(line)
            .map_err(|_| Error::Resume("the last line is not a chained audit record"))?;
        Ok(ChainState {
            seq: parsed.seq,
            head: sha256(line),
            checkpoint_due: parsed.kind == LineKind::Record
                && parsed.seq > 0
                && parsed.seq.is_multiple_of(CHECKPOINT_INTERVAL),
        })
    }

    /// Resumes after the last line of the log at `path`; a missing or empty file starts a new
    /// chain. A last line cut short (no newline) is refused rather than appended to.
    pub fn from_file(path: &Path) -> Result<ChainState> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(ChainState::genesis()),
            Err(e) => return Err(e.into()),
        };
        match last_line(&file)? {
            None => Ok(ChainState::genesis()),
            Some(line) => ChainState::from_last_line(&line),
        }
    }

    /// The last record's `seq` (0 before the first record).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The hash the next line links to, as `sha256:<hex>`.
    pub fn head(&self) -> String {
        format_hash(&self.head)
    }

    /// Whether a checkpoint line must be written before the next record.
    pub(crate) fn checkpoint_due(&self) -> bool {
        self.checkpoint_due
    }

    /// After a reopen the new file starts with a checkpoint, so it verifies on its own.
    pub(crate) fn mark_reopened(&mut self) {
        if self.seq > 0 {
            self.checkpoint_due = true;
        }
    }

    /// Records that `line`, the record numbered `seq`, was written.
    pub(crate) fn advance_record(&mut self, seq: u64, line: &[u8]) {
        self.seq = seq;
        self.head = sha256(line);
        self.checkpoint_due = seq > 0 && seq.is_multiple_of(CHECKPOINT_INTERVAL);
    }

    /// Records that the checkpoint `line` was written.
    pub(crate) fn advance_checkpoint(&mut self, line: &[u8]) {
        self.head = sha256(line);
        self.checkpoint_due = false;
    }

    /// The checkpoint line for the chain as it stands.
    pub(crate) fn checkpoint_line(&self, time: &str) -> Result<Vec<u8>> {
        let checkpoint = Checkpoint {
            kind: "checkpoint",
            seq: self.seq,
            hash: self.head(),
            time,
        };
        Ok(serde_json::to_vec(&checkpoint)?)
    }
}

/// The two kinds of chained lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineKind {
    /// A `request` or `response` record.
    Record,
    /// A checkpoint.
    Checkpoint,
}

/// The chain fields of one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChainLine {
    pub(crate) kind: LineKind,
    pub(crate) seq: u64,
    /// `prev_hash` of a record, `hash` of a checkpoint: the hash of the line before.
    pub(crate) link: [u8; 32],
}

/// Reads the chain fields of `line`, or says why it is not a chained line.
pub(crate) fn parse_line(line: &[u8]) -> std::result::Result<ChainLine, String> {
    let fields: Fields = serde_json::from_slice(line).map_err(|e| {
        format!(
            "not a JSON object ({:?} error at column {})",
            e.classify(),
            e.column()
        )
    })?;
    let kind = match fields.kind.as_deref() {
        Some("request" | "response") => LineKind::Record,
        Some("checkpoint") => LineKind::Checkpoint,
        Some(_) => return Err("unknown record type".to_owned()),
        None => return Err("no record type".to_owned()),
    };
    let seq = fields.seq.ok_or_else(|| "no seq".to_owned())?;
    let link = match kind {
        LineKind::Record => fields.prev_hash,
        LineKind::Checkpoint => fields.hash,
    };
    let link = link
        .as_deref()
        .and_then(parse_hash)
        .ok_or_else(|| match kind {
            LineKind::Record => "no valid prev_hash".to_owned(),
            LineKind::Checkpoint => "no valid hash".to_owned(),
        })?;
    Ok(ChainLine { kind, seq, link })
}

/// SHA-256 of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = digest::digest(&digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// `sha256:<hex>`.
pub(crate) fn format_hash(hash: &[u8; 32]) -> String {
    format!("{SHA256_PREFIX}{}", hex::encode(hash))
}

/// Parses `sha256:<64 hex digits>`.
pub(crate) fn parse_hash(text: &str) -> Option<[u8; 32]> {
    let digits = text.strip_prefix(SHA256_PREFIX)?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(digits, &mut out).ok()?;
    Some(out)
}

/// The fields of a line the chain needs; the rest is ignored.
#[derive(Deserialize)]
struct Fields {
    #[serde(rename = "type")]
    kind: Option<String>,
    seq: Option<u64>,
    prev_hash: Option<String>,
    hash: Option<String>,
}

/// A checkpoint line, fields in the order they are written.
#[derive(Serialize)]
struct Checkpoint<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    seq: u64,
    hash: String,
    time: &'a str,
}

/// The last line of `file` without its newline, `None` for an empty file; an error when the
/// file does not end with a newline (a write was cut short).
fn last_line(file: &File) -> Result<Option<Vec<u8>>> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(None);
    }
    let mut last = [0u8; 1];
    file.read_exact_at(&mut last, len - 1)?;
    if last != [b'\n'] {
        return Err(Error::Resume("the last line is incomplete (no newline)"));
    }
    // Chunks of the last line, from its end backwards; the line ends at `len - 1`.
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut end = len - 1;
    while end > 0 {
        let chunk_start = end.saturating_sub(TAIL_CHUNK);
        let size = usize::try_from(end - chunk_start)
            .map_err(|_| Error::Resume("the last line does not fit in memory"))?;
        let mut chunk = vec![0u8; size];
        file.read_exact_at(&mut chunk, chunk_start)?;
        if let Some(pos) = chunk.iter().rposition(|&b| b == b'\n') {
            chunks.push(chunk.split_off(pos + 1));
            break;
        }
        chunks.push(chunk);
        end = chunk_start;
    }
    let mut line = Vec::new();
    for chunk in chunks.iter().rev() {
        line.extend_from_slice(chunk);
    }
    Ok(Some(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_is_the_hash_of_nothing() {
        assert_eq!(format_hash(&sha256(b"")), GENESIS);
        assert_eq!(ChainState::genesis().head(), GENESIS);
        assert_eq!(ChainState::genesis().seq(), 0);
    }

    #[test]
    fn hashes_round_trip_and_bad_ones_are_refused() {
        let h = sha256(b"x");
        assert_eq!(parse_hash(&format_hash(&h)), Some(h));
        for bad in ["", "sha256:", "sha256:zz", "md5:00", &format_hash(&h)[..70]] {
            assert_eq!(parse_hash(bad), None, "{bad}");
        }
    }

    fn check_parse(line: &str, expected: std::result::Result<(LineKind, u64), &str>) {
        let got = parse_line(line.as_bytes()).map(|l| (l.kind, l.seq));
        match expected {
            Ok(want) => assert_eq!(got, Ok(want), "{line}"),
            Err(reason) => {
                let err = got.expect_err(line);
                assert!(err.contains(reason), "{line}: {err}");
            }
        }
    }

    #[test]
    fn parse_lines() {
        let ok = GENESIS;
        check_parse(
            &format!(r#"{{"type":"request","seq":1,"prev_hash":"{ok}"}}"#),
            Ok((LineKind::Record, 1)),
        );
        check_parse(
            &format!(r#"{{"type":"response","seq":7,"prev_hash":"{ok}","x":[1]}}"#),
            Ok((LineKind::Record, 7)),
        );
        check_parse(
            &format!(r#"{{"type":"checkpoint","seq":1000,"hash":"{ok}","time":"t"}}"#),
            Ok((LineKind::Checkpoint, 1000)),
        );
        check_parse("", Err("not a JSON object"));
        check_parse("{", Err("not a JSON object"));
        check_parse("[1]", Err("not a JSON object"));
        check_parse(r#"{"seq":1}"#, Err("no record type"));
        check_parse(r#"{"type":"other","seq":1}"#, Err("unknown record type"));
        check_parse(r#"{"type":"request"}"#, Err("no seq"));
        check_parse(r#"{"type":"request","seq":-1}"#, Err("not a JSON object"));
        check_parse(r#"{"type":"request","seq":1}"#, Err("no valid prev_hash"));
        check_parse(
            r#"{"type":"request","seq":1,"prev_hash":"sha256:00"}"#,
            Err("no valid prev_hash"),
        );
        check_parse(
            &format!(r#"{{"type":"checkpoint","seq":1,"prev_hash":"{ok}"}}"#),
            Err("no valid hash"),
        );
    }

    #[test]
    fn resuming_sets_seq_head_and_pending_checkpoints() {
        let record = format!(r#"{{"type":"response","seq":41,"prev_hash":"{GENESIS}"}}"#);
        let state = ChainState::from_last_line(record.as_bytes()).expect("chained line");
        assert_eq!(state.seq(), 41);
        assert_eq!(state.head(), format_hash(&sha256(record.as_bytes())));
        assert!(!state.checkpoint_due());

        let at_interval = format!(r#"{{"type":"response","seq":2000,"prev_hash":"{GENESIS}"}}"#);
        let state = ChainState::from_last_line(at_interval.as_bytes()).expect("chained line");
        assert!(
            state.checkpoint_due(),
            "a crash between record and checkpoint"
        );

        let checkpoint = format!(r#"{{"type":"checkpoint","seq":2000,"hash":"{GENESIS}"}}"#);
        let state = ChainState::from_last_line(checkpoint.as_bytes()).expect("chained line");
        assert_eq!(state.seq(), 2000);
        assert!(!state.checkpoint_due());

        assert!(matches!(
            ChainState::from_last_line(br#"{"time":"x","type":"request"}"#),
            Err(Error::Resume(_))
        ));
    }

    #[test]
    fn last_line_of_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("log");
        let check = |content: &[u8], expected: Option<&[u8]>| {
            std::fs::write(&path, content).expect("write");
            let file = File::open(&path).expect("open");
            let got = last_line(&file).expect("complete file");
            assert_eq!(
                got.as_deref(),
                expected,
                "{:?}",
                String::from_utf8_lossy(content)
            );
        };
        check(b"", None);
        check(b"\n", Some(b""));
        check(b"one\n", Some(b"one"));
        check(b"one\ntwo\n", Some(b"two"));
        check(b"one\n\n", Some(b""));
        let long = vec![b'x'; 200_000];
        let mut content = b"first\n".to_vec();
        content.extend_from_slice(&long);
        content.push(b'\n');
        check(&content, Some(&long));
        let mut content = long.clone();
        content.push(b'\n');
        check(&content, Some(&long));
        let mut content = long.clone();
        content.extend_from_slice(b"\nshort\n");
        check(&content, Some(b"short"));

        std::fs::write(&path, b"one\ntw").expect("write");
        let file = File::open(&path).expect("open");
        assert!(matches!(last_line(&file), Err(Error::Resume(_))));
        assert!(matches!(
            ChainState::from_file(&path),
            Err(Error::Resume(_))
        ));
        assert_eq!(
            ChainState::from_file(&dir.path().join("missing")).expect("missing is new"),
            ChainState::genesis()
        );
    }
}
