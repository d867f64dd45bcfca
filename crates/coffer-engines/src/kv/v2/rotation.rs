//! Rotation of KV version 2 secrets, driven by their custom metadata (the `coffer secrets`
//! rotation policy): reminders that a secret is due or overdue for rotation, and the rotation
//! itself for secrets the server generates.
//!
//! The custom metadata keys:
//! - `coffer:rotation-period` (e.g. `30d`): the current version should be replaced this long
//!   after it was created;
//! - `coffer:rotation-notify-before` (e.g. `7d`): `rotation-due` is raised this long before
//!   (a tenth of the period when absent); `rotation-overdue` once the time has passed;
//! - `coffer:rotation-enabled`: `true` or `false`; absent means enabled when a period is set;
//! - `coffer:generate` (e.g. `32`): the server itself writes a new version `{"value": <N random
//!   bytes, base64url without padding>}` when rotation falls due, and raises `rotated`;
//! - `coffer:rotated-version`: written by the server with such a version, so the `rotated` event
//!   is raised again (and delivered once) should the pass that rotated fail to deliver it.
//!
//! The core's reminder pass ([`coffer_core::engine::Engine::reminders`], every minute) is also
//! the rotation pass: a self-rotating secret is rotated while its page of reminders is
//! collected. The write is the normal KV version 2 write of a new version, made only if the
//! current version is still the one that fell due (check-and-set), so racing passes or a
//! concurrent client write never rotate twice. Secrets whose rotation metadata cannot be read
//! (e.g. a period of `1x`) raise nothing and are logged; the pass goes on. A secret whose
//! current version is deleted or destroyed raises nothing and is not rotated.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coffer_core::engine::{EngineEvent, EventPage};
use coffer_core::ttl::Ttl;
use coffer_core::{Error, Result};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::config;
use super::data;
use super::keyspace::{Change, Decision, KeyName, Keyspace};
use super::record::{self, KeyMetadata, Timestamp};

/// The custom metadata key of the rotation period.
pub(crate) const PERIOD: &str = "coffer:rotation-period";
/// The custom metadata key of the notice before rotation falls due.
pub(crate) const NOTIFY_BEFORE: &str = "coffer:rotation-notify-before";
/// The custom metadata key switching rotation on or off.
pub(crate) const ENABLED: &str = "coffer:rotation-enabled";
/// The custom metadata key asking the server to generate (and rotate) the value.
pub(crate) const GENERATE: &str = "coffer:generate";
/// The custom metadata key the server sets to the version it generated.
pub(crate) const ROTATED_VERSION: &str = "coffer:rotated-version";

/// The largest `coffer:generate` the server honours, in bytes.
pub(crate) const MAX_GENERATE: usize = 4096;

/// How many secrets one page of reminders reads.
const PAGE_SIZE: usize = 256;

/// The item type events about KV secrets carry.
const ITEM_TYPE: &str = "secret";

/// A secret's rotation schedule, as its custom metadata states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Schedule {
    /// How long after its creation the current version should be replaced.
    period: Duration,
    /// How long before that `rotation-due` is raised.
    notice: Duration,
    /// The length in bytes of the random value the server generates, for self-rotating secrets.
    generate: Option<usize>,
}

/// A rotation setting that cannot be read: which key, and why. Holds no value of the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadSetting {
    key: &'static str,
    reason: String,
}

/// What one secret needs at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    Nothing,
    /// Within the notice before `at`.
    Soon(SystemTime),
    /// `at` has passed.
    Passed(SystemTime),
}

impl Schedule {
    /// The schedule in `custom` metadata: `None` when it asks for no rotation (no period, or
    /// disabled), an error naming the key when a value cannot be read.
    pub(crate) fn from_metadata(
        custom: &BTreeMap<String, String>,
    ) -> std::result::Result<Option<Schedule>, BadSetting> {
        let enabled = match custom.get(ENABLED).map(|v| v.trim()) {
            None | Some("true") => true,
            Some("false") => false,
            Some(_) => return Err(bad(ENABLED, "use true or false".to_owned())),
        };
        let Some(period) = custom.get(PERIOD) else {
            return Ok(None);
        };
        let period = duration(PERIOD, period)?;
        if period.is_zero() {
            return Err(bad(
                PERIOD,
                "the period must be longer than zero".to_owned(),
            ));
        }
        let notice = match custom.get(NOTIFY_BEFORE) {
            Some(text) => duration(NOTIFY_BEFORE, text)?,
            None => period / 10,
        };
        let generate = match custom.get(GENERATE) {
            None => None,
            Some(text) => match text.trim().parse::<usize>() {
                Ok(n) if (1..=MAX_GENERATE).contains(&n) => Some(n),
                _ => {
                    return Err(bad(
                        GENERATE,
                        format!("use a number of bytes from 1 to {MAX_GENERATE}"),
                    ));
                }
            },
        };
        Ok(enabled.then_some(Schedule {
            period,
            notice,
            generate,
        }))
    }

    /// Where a version created at `created` stands at `now`.
    fn due(&self, created: SystemTime, now: SystemTime) -> Due {
        let at = created + self.period;
        if now >= at {
            Due::Passed(at)
        } else if now + self.notice >= at {
            Due::Soon(at)
        } else {
            Due::Nothing
        }
    }
}

fn bad(key: &'static str, reason: String) -> BadSetting {
    BadSetting { key, reason }
}

fn duration(key: &'static str, text: &str) -> std::result::Result<Duration, BadSetting> {
    Ttl::parse(text)
        .map(Ttl::duration)
        .map_err(|e| bad(key, e.to_string()))
}

/// The reminders (and rotations) of the secrets after the cursor `after`, one page of at most
/// [`PAGE_SIZE`] secrets, so memory stays bounded however many there are.
pub(crate) async fn page(
    keyspace: &Keyspace<'_>,
    mount: &str,
    now: SystemTime,
    after: Option<&str>,
) -> Result<EventPage> {
    let page = keyspace.metadata_page(after, PAGE_SIZE).await?;
    let mut events = Vec::new();
    for meta in &page.records {
        events.extend(secret_events(keyspace, mount, meta, now).await?);
    }
    Ok(EventPage {
        events,
        next: page.next,
    })
}

/// The events of one secret at `now`, rotating it first when it generates its value and is due.
async fn secret_events(
    keyspace: &Keyspace<'_>,
    mount: &str,
    meta: &KeyMetadata,
    now: SystemTime,
) -> Result<Vec<EngineEvent>> {
    let schedule = match Schedule::from_metadata(&meta.custom_metadata) {
        Ok(Some(schedule)) => schedule,
        Ok(None) => return Ok(Vec::new()),
        Err(problem) => {
            tracing::warn!(
                mount,
                secret = %meta.key,
                key = problem.key,
                reason = %problem.reason,
                "the secret's rotation metadata cannot be read; it raises no reminders"
            );
            return Ok(Vec::new());
        }
    };
    let current = meta.current_version;
    let Some(version) = meta.versions.get(&current) else {
        return Ok(Vec::new());
    };
    if !version.is_readable(Timestamp::from_system(now)) {
        return Ok(Vec::new());
    }
    let created = version.created_time.to_system();
    let mut events = Vec::new();
    let event = |event, version, at, source| EngineEvent {
        event,
        name: meta.key.clone(),
        item_type: ITEM_TYPE.to_owned(),
        version,
        at,
        source,
    };
    if schedule.generate.is_some()
        && meta.custom_metadata.get(ROTATED_VERSION) == Some(&current.to_string())
    {
        events.push(event("rotated", current, created, GENERATE_SOURCE));
    }
    match schedule.due(created, now) {
        Due::Nothing => {}
        Due::Soon(at) => events.push(event("rotation-due", current, at, PERIOD_SOURCE)),
        Due::Passed(at) if schedule.generate.is_none() => {
            events.push(event("rotation-overdue", current, at, PERIOD_SOURCE));
        }
        Due::Passed(_) => match rotate(keyspace, meta, now).await {
            Ok(Some(rotated)) => events.push(event("rotated", rotated, now, GENERATE_SOURCE)),
            Ok(None) => {}
            Err(Error::Sealed) => return Err(Error::Sealed),
            // One secret that cannot be written now (e.g. too many racing writers) does not
            // stop the pass; it is tried again next time.
            Err(error) => tracing::warn!(
                mount,
                secret = %meta.key,
                %error,
                "rotating the generated secret failed; it is tried again next pass"
            ),
        },
    }
    Ok(events)
}

/// The source of `rotation-due` and `rotation-overdue`.
const PERIOD_SOURCE: &str = "custom_metadata.coffer:rotation-period";
/// The source of `rotated`.
const GENERATE_SOURCE: &str = "custom_metadata.coffer:generate";

/// Writes a new generated version of the secret `seen` describes, provided it is still the
/// same version and still due for rotation when the write commits; returns the new version, or
/// `None` when someone else changed the secret first (nothing to do this pass).
async fn rotate(
    keyspace: &Keyspace<'_>,
    seen: &KeyMetadata,
    now: SystemTime,
) -> Result<Option<u64>> {
    let Some(key) = KeyName::parse(&seen.key) else {
        return Ok(None);
    };
    let Ok(Some(Schedule {
        generate: Some(length),
        ..
    })) = Schedule::from_metadata(&seen.custom_metadata)
    else {
        return Ok(None);
    };
    let value = generated_value(length)?;
    let config = config::load(keyspace.view()).await?;
    let id = keyspace.key_id(&key);
    let stamp = Timestamp::from_system(now);
    let expected = seen.current_version;
    let rotated = keyspace
        .update(&key, |meta| {
            let Some(mut meta) = meta else {
                return Ok(Decision::Keep(None));
            };
            // Check-and-set: only the version that fell due is replaced, and only if the
            // metadata still asks for it.
            let still_due = meta.current_version == expected && is_due_for_generation(&meta, now);
            if !still_due {
                return Ok(Decision::Keep(None));
            }
            let (ops, _reply) = data::add_version(&id, &mut meta, value.clone(), &config, stamp);
            let version = meta.current_version;
            meta.custom_metadata
                .insert(ROTATED_VERSION.to_owned(), version.to_string());
            Ok(Decision::Apply(Change::Write { meta, ops }, Some(version)))
        })
        .await?;
    if let Some(version) = rotated {
        tracing::info!(secret = %seen.key, version, "generated secret rotated");
    }
    Ok(rotated)
}

/// Whether the server should write a new generated version of this secret at `now`.
fn is_due_for_generation(meta: &KeyMetadata, now: SystemTime) -> bool {
    let Ok(Some(schedule)) = Schedule::from_metadata(&meta.custom_metadata) else {
        return false;
    };
    let Some(version) = meta.versions.get(&meta.current_version) else {
        return false;
    };
    schedule.generate.is_some()
        && version.is_readable(Timestamp::from_system(now))
        && matches!(
            schedule.due(version.created_time.to_system(), now),
            Due::Passed(_)
        )
}

/// The stored value of a generated version: `{"value": <length random bytes, base64url>}`.
fn generated_value(length: usize) -> Result<Zeroizing<Vec<u8>>> {
    let mut bytes = Zeroizing::new(vec![0u8; length]);
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Barrier(coffer_barrier::Error::Random))?;
    let text = Zeroizing::new(URL_SAFE_NO_PAD.encode(&*bytes));
    let mut data = Map::new();
    data.insert("value".to_owned(), Value::String(text.as_str().to_owned()));
    let encoded = record::encode_value(&data);
    // The JSON copy of the value goes now, overwritten.
    if let Some(Value::String(copy)) = data.remove("value") {
        drop(Zeroizing::new(copy));
    }
    Ok(encoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pairs: &[(&str, &str)], expect: &str) {
        let custom = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let got = match Schedule::from_metadata(&custom) {
            Ok(None) => "none".to_owned(),
            Ok(Some(s)) => format!(
                "period {}s notice {}s generate {:?}",
                s.period.as_secs(),
                s.notice.as_secs(),
                s.generate
            ),
            Err(e) => format!("bad {}: {}", e.key, e.reason),
        };
        assert_eq!(got, expect, "{pairs:?}");
    }

    #[test]
    fn schedules_from_custom_metadata() {
        check(&[], "none");
        check(&[("owner", "backend-team")], "none");
        check(
            &[(PERIOD, "30d"), (NOTIFY_BEFORE, "7d")],
            "period 2592000s notice 604800s generate None",
        );
        check(
            &[(PERIOD, "10d")],
            "period 864000s notice 86400s generate None",
        );
        check(
            &[(PERIOD, "30d"), (ENABLED, "true"), (GENERATE, "32")],
            "period 2592000s notice 259200s generate Some(32)",
        );
        check(&[(PERIOD, "30d"), (ENABLED, "false")], "none");
        check(&[(ENABLED, "true")], "none");
        check(
            &[(PERIOD, "1x")],
            "bad coffer:rotation-period: invalid duration \"1x\": unknown unit (use s, m, h or d)",
        );
        check(
            &[(PERIOD, "0")],
            "bad coffer:rotation-period: the period must be longer than zero",
        );
        check(
            &[(PERIOD, "30d"), (ENABLED, "yes")],
            "bad coffer:rotation-enabled: use true or false",
        );
        check(
            &[(PERIOD, "30d"), (NOTIFY_BEFORE, "soon")],
            "bad coffer:rotation-notify-before: invalid duration \"soon\": expected a number",
        );
        for n in ["0", "-1", "4097", "many"] {
            check(
                &[(PERIOD, "30d"), (GENERATE, n)],
                "bad coffer:generate: use a number of bytes from 1 to 4096",
            );
        }
    }

    #[test]
    fn due_soon_then_passed() {
        let schedule = Schedule {
            period: Duration::from_secs(30),
            notice: Duration::from_secs(7),
            generate: None,
        };
        let t = |secs| std::time::UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(schedule.due(t(100), t(122)), Due::Nothing);
        assert_eq!(schedule.due(t(100), t(123)), Due::Soon(t(130)));
        assert_eq!(schedule.due(t(100), t(130)), Due::Passed(t(130)));
    }

    #[test]
    fn generated_values_are_base64url_of_the_length() {
        let encoded = generated_value(32).expect("the system random generator works");
        let data = record::decode_value("test", &encoded).expect("the value decodes");
        let Some(Value::String(text)) = data.get("value") else {
            panic!("no string value in {:?}", data.keys().collect::<Vec<_>>());
        };
        assert_eq!(text.len(), 43);
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .expect("base64url without padding");
        assert_eq!(bytes.len(), 32);
    }
}
