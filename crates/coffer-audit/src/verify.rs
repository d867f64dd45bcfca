//! Verification of a hash-chained log: walks the lines, checks each one's `seq` and the hash
//! link to the line before, and names the first problem found. A file verifies from its first
//! line when that is the chain's first record (`seq` 1) or a checkpoint; otherwise (a file cut
//! by an external rotation) it verifies from its first checkpoint and reports the lines before
//! it as skipped. Limits, inherent to an unkeyed chain: an edit of the very last line that leaves
//! its `seq` and `prev_hash` alone, or the removal of the last lines, shows no break; and anyone
//! able to rewrite the whole tail of the file can recompute the chain.

use std::io::BufRead;

use crate::chain::{CHECKPOINT_INTERVAL, ChainLine, LineKind, parse_line, sha256};
use crate::error::Result;

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Request and response records verified intact (those before the line a problem names).
    pub records: u64,
    /// Lines before the checkpoint verification started at, when the file does not start the
    /// chain; they could not be verified.
    pub skipped: u64,
    /// The first break in the chain, `None` when the file verified.
    pub problem: Option<Problem>,
}

/// The first break found; line numbers count from 1, as an editor shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The line's bytes were changed after it was written.
    Modified { line: u64 },
    /// One or more lines after this one are missing (`after_line` 0: before the first line).
    Removed { after_line: u64 },
    /// The line was not written by the device in this place (a copy or a forgery).
    Inserted { line: u64 },
    /// The line was written, but later than where it now stands.
    Reordered { line: u64 },
    /// The line is not a chained audit record.
    Malformed { line: u64, reason: String },
}

/// Verifies the hash-chained log read from `reader`. Tampering is reported in
/// [`VerifyReport::problem`]; only failing to read is an error.
pub fn verify(reader: impl BufRead) -> Result<VerifyReport> {
    let mut lines = Lines {
        reader,
        line: 0,
        peeked: None,
    };
    let mut report = VerifyReport {
        records: 0,
        skipped: 0,
        problem: None,
    };
    let Some(first) = lines.next()? else {
        return Ok(report);
    };
    let mut state = match &first.parsed {
        Err(reason) => {
            report.problem = Some(Problem::Malformed {
                line: first.line,
                reason: reason.clone(),
            });
            return Ok(report);
        }
        Ok(chained) if chained.kind == LineKind::Record && chained.seq == 1 => {
            let mut state = State::genesis();
            if let Some(problem) = state.check(&first, chained, &mut lines)? {
                report.problem = Some(problem);
                return Ok(report);
            }
            report.records = 1;
            state
        }
        Ok(chained) if chained.kind == LineKind::Checkpoint => State::anchored(&first, chained),
        Ok(_) => {
            // Not the start of the chain: find the first checkpoint.
            let mut skipped = 1;
            loop {
                let Some(entry) = lines.next()? else {
                    report.problem = Some(Problem::Removed { after_line: 0 });
                    return Ok(report);
                };
                if let Ok(chained) = &entry.parsed
                    && chained.kind == LineKind::Checkpoint
                {
                    report.skipped = skipped;
                    break State::anchored(&entry, chained);
                }
                skipped += 1;
            }
        }
    };
    while let Some(entry) = lines.next()? {
        let chained = match &entry.parsed {
            Ok(chained) => *chained,
            Err(reason) => {
                report.problem = Some(Problem::Malformed {
                    line: entry.line,
                    reason: reason.clone(),
                });
                return Ok(report);
            }
        };
        if let Some(problem) = state.check(&entry, &chained, &mut lines)? {
            // A problem blamed on the previous line takes it out of the verified count.
            let blames_previous = matches!(
                problem,
                Problem::Modified { line } | Problem::Inserted { line } if line == state.prev_line
            );
            if blames_previous && state.prev_kind == Some(LineKind::Record) {
                report.records = report.records.saturating_sub(1);
            }
            report.problem = Some(problem);
            return Ok(report);
        }
        if chained.kind == LineKind::Record {
            report.records += 1;
        }
    }
    Ok(report)
}

/// One line: its number, the hash of its bytes, and its chain fields (or why it has none).
struct Entry {
    line: u64,
    hash: [u8; 32],
    parsed: std::result::Result<ChainLine, String>,
}

/// Lines of the log, with one line of lookahead.
struct Lines<R> {
    reader: R,
    line: u64,
    peeked: Option<Option<Entry>>,
}

impl<R: BufRead> Lines<R> {
    fn next(&mut self) -> Result<Option<Entry>> {
        if let Some(peeked) = self.peeked.take() {
            return Ok(peeked);
        }
        self.read()
    }

    fn peek(&mut self) -> Result<Option<&Entry>> {
        if self.peeked.is_none() {
            let entry = self.read()?;
            self.peeked = Some(entry);
        }
        Ok(self.peeked.as_ref().and_then(Option::as_ref))
    }

    fn read(&mut self) -> Result<Option<Entry>> {
        let mut buf = Vec::new();
        if self.reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok(None);
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
        }
        self.line += 1;
        Ok(Some(Entry {
            line: self.line,
            hash: sha256(&buf),
            parsed: parse_line(&buf),
        }))
    }
}

/// Where the walk stands.
struct State {
    /// The last record's seq.
    last_seq: u64,
    /// The hash the next line must link to.
    head: [u8; 32],
    /// The hash of the line before the previous one.
    before_head: Option<[u8; 32]>,
    /// The previous line's number (0 before the first).
    prev_line: u64,
    /// The previous line's kind.
    prev_kind: Option<LineKind>,
}

impl State {
    /// Before the chain's first record, which links to [`crate::GENESIS`].
    fn genesis() -> State {
        State {
            last_seq: 0,
            head: sha256(b""),
            before_head: None,
            prev_line: 0,
            prev_kind: None,
        }
    }

    /// Trusts a checkpoint as the starting point.
    fn anchored(entry: &Entry, chained: &ChainLine) -> State {
        State {
            last_seq: chained.seq,
            head: entry.hash,
            before_head: None,
            prev_line: entry.line,
            prev_kind: Some(LineKind::Checkpoint),
        }
    }

    /// Checks `entry` against the chain and advances past it, or names the problem.
    fn check(
        &mut self,
        entry: &Entry,
        chained: &ChainLine,
        lines: &mut Lines<impl BufRead>,
    ) -> Result<Option<Problem>> {
        let expected_seq = match chained.kind {
            LineKind::Record => self.last_seq + 1,
            LineKind::Checkpoint => self.last_seq,
        };
        // A record may not directly follow a record whose seq calls for a checkpoint.
        let checkpoint_missing = chained.kind == LineKind::Record
            && self.prev_kind == Some(LineKind::Record)
            && self.last_seq > 0
            && self.last_seq.is_multiple_of(CHECKPOINT_INTERVAL);
        let linked = chained.link == self.head;
        let problem = if linked {
            if chained.seq != expected_seq {
                // It follows the previous line, so its own seq was changed.
                Some(Problem::Modified { line: entry.line })
            } else if checkpoint_missing {
                Some(Problem::Removed {
                    after_line: self.prev_line,
                })
            } else {
                None
            }
        } else if chained.seq == expected_seq {
            if checkpoint_missing {
                Some(Problem::Removed {
                    after_line: self.prev_line,
                })
            } else {
                Some(self.classify_broken_link(entry, chained, lines)?)
            }
        } else if chained.seq > expected_seq {
            Some(self.classify_gap(entry, lines)?)
        } else if chained.kind == LineKind::Record
            && chained.seq == self.last_seq
            && self.before_head == Some(chained.link)
        {
            // It links to the line before the previous one: the previous line was slipped in.
            Some(Problem::Inserted {
                line: self.prev_line,
            })
        } else {
            Some(Problem::Inserted { line: entry.line })
        };
        if problem.is_none() {
            self.before_head = Some(self.head);
            self.head = entry.hash;
            self.last_seq = chained.seq;
            self.prev_line = entry.line;
            self.prev_kind = Some(chained.kind);
        }
        Ok(problem)
    }

    /// The seq is right but the link is not: which line changed?
    fn classify_broken_link(
        &self,
        entry: &Entry,
        chained: &ChainLine,
        lines: &mut Lines<impl BufRead>,
    ) -> Result<Problem> {
        if let Some(next) = lines.peek()?
            && let Ok(next_chained) = &next.parsed
        {
            if next_chained.kind == chained.kind
                && next_chained.seq == chained.seq
                && next_chained.link == self.head
            {
                // The next line is the genuine one this line pretends to be.
                return Ok(Problem::Inserted { line: entry.line });
            }
            if next_chained.link != entry.hash {
                // Neither link around this line holds: this line's own link was edited.
                return Ok(Problem::Modified { line: entry.line });
            }
        }
        if self.prev_line == 0 {
            return Ok(Problem::Modified { line: entry.line });
        }
        Ok(Problem::Modified {
            line: self.prev_line,
        })
    }

    /// The seq jumps ahead: are the missing lines further down (reordered), is this line a copy
    /// of a later one (inserted), or are they gone (removed)?
    fn classify_gap(&self, entry: &Entry, lines: &mut Lines<impl BufRead>) -> Result<Problem> {
        let wanted = self.last_seq + 1;
        let mut wanted_found = false;
        while let Some(later) = lines.next()? {
            if later.hash == entry.hash {
                return Ok(Problem::Inserted { line: entry.line });
            }
            if let Ok(chained) = &later.parsed
                && chained.kind == LineKind::Record
                && chained.seq == wanted
            {
                wanted_found = true;
            }
        }
        Ok(if wanted_found {
            Problem::Reordered { line: entry.line }
        } else {
            Problem::Removed {
                after_line: self.prev_line,
            }
        })
    }
}
