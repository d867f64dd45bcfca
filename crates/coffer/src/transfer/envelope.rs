//! The passphrase envelope of encrypted exports, `COFFER-EXPORT-1`.
//!
//! The key is argon2id(passphrase, salt) → 256 bits; the cipher is AES-256-GCM (`ring`). The
//! binary layout, every field before the ciphertext also bound in as associated data:
//!
//! ```text
//! magic      15 bytes  "COFFER-EXPORT-1"
//! format      1 byte   1 dotenv, 2 JSON, 3 YAML (what the plaintext is)
//! m_cost      4 bytes  argon2id memory in KiB, big-endian
//! t_cost      4 bytes  argon2id passes, big-endian
//! p_cost      4 bytes  argon2id lanes, big-endian
//! salt       16 bytes  random
//! nonce      12 bytes  random
//! ciphertext  n bytes  AES-256-GCM of the plaintext, then its 16-byte tag
//! ```
//!
//! The text armor is that binary in standard base64, 64 columns, between
//! `-----BEGIN COFFER-EXPORT-1-----` and `-----END COFFER-EXPORT-1-----` lines. A wrong
//! passphrase and a modified file look the same (the tag does not verify) and say so.

use anyhow::{Context as _, bail};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom as _, SystemRandom};
use zeroize::Zeroizing;

/// The magic at the start of the binary envelope.
const MAGIC: &[u8; 15] = b"COFFER-EXPORT-1";
/// The armor's first line.
const BEGIN: &str = "-----BEGIN COFFER-EXPORT-1-----";
/// The armor's last line.
const END: &str = "-----END COFFER-EXPORT-1-----";
const SALT_LEN: usize = 16;
const HEADER_LEN: usize = MAGIC.len() + 1 + 12 + SALT_LEN + NONCE_LEN;
const TAG_LEN: usize = 16;

/// argon2id cost of new envelopes: 64 MiB, 3 passes, 1 lane.
const M_COST: u32 = 64 * 1024;
const T_COST: u32 = 3;
const P_COST: u32 = 1;
/// The most an envelope may ask for when opened (a hostile file must not exhaust memory).
const MAX_M_COST: u32 = 1024 * 1024;
const MAX_T_COST: u32 = 64;
const MAX_P_COST: u32 = 16;

/// A passphrase, zeroized on drop and never printed.
pub(crate) struct Passphrase(Zeroizing<String>);

impl Passphrase {
    /// Wraps a passphrase, refusing an empty one.
    pub(crate) fn new(text: Zeroizing<String>) -> anyhow::Result<Passphrase> {
        if text.is_empty() {
            bail!("the passphrase is empty");
        }
        Ok(Passphrase(text))
    }
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

/// Whether a file's text is an encrypted export.
pub(crate) fn is_sealed(text: &str) -> bool {
    text.trim_start().starts_with(BEGIN)
}

/// Encrypts `plaintext` (whose format byte is `format`) into the armored envelope.
pub(crate) fn seal(
    plaintext: &[u8],
    format: u8,
    passphrase: &Passphrase,
) -> anyhow::Result<String> {
    let random = SystemRandom::new();
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    random
        .fill(&mut salt)
        .map_err(|_| anyhow::anyhow!("the system random source failed"))?;
    random
        .fill(&mut nonce)
        .map_err(|_| anyhow::anyhow!("the system random source failed"))?;
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(MAGIC);
    header.push(format);
    header.extend_from_slice(&M_COST.to_be_bytes());
    header.extend_from_slice(&T_COST.to_be_bytes());
    header.extend_from_slice(&P_COST.to_be_bytes());
    header.extend_from_slice(&salt);
    header.extend_from_slice(&nonce);
    let key = derive(passphrase, &salt, M_COST, T_COST, P_COST)?;
    let mut sealed = Zeroizing::new(plaintext.to_vec());
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(&header),
        &mut *sealed,
    )
    .map_err(|_| anyhow::anyhow!("encryption failed"))?;
    header.extend_from_slice(&sealed);
    let encoded = STANDARD.encode(&header);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 64 + 80);
    out.push_str(BEGIN);
    out.push('\n');
    for chunk in encoded.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 output is ASCII"));
        out.push('\n');
    }
    out.push_str(END);
    out.push('\n');
    Ok(out)
}

/// Decrypts an armored envelope: its format byte and plaintext.
pub(crate) fn open(
    armored: &str,
    passphrase: &Passphrase,
) -> anyhow::Result<(u8, Zeroizing<Vec<u8>>)> {
    let body = armored
        .trim()
        .strip_prefix(BEGIN)
        .and_then(|rest| rest.strip_suffix(END))
        .context("not an encrypted coffer export (missing the COFFER-EXPORT-1 armor lines)")?;
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = STANDARD
        .decode(compact)
        .map_err(|_| anyhow::anyhow!("the encrypted export is damaged (bad base64)"))?;
    if bytes.len() < HEADER_LEN + TAG_LEN || !bytes.starts_with(MAGIC) {
        bail!("the encrypted export is damaged (too short or a wrong magic)");
    }
    let (header, ciphertext) = bytes.split_at(HEADER_LEN);
    let format = header[MAGIC.len()];
    let number = |at: usize| -> u32 {
        let mut word = [0u8; 4];
        word.copy_from_slice(&header[at..at + 4]);
        u32::from_be_bytes(word)
    };
    let params_at = MAGIC.len() + 1;
    let (m_cost, t_cost, p_cost) = (
        number(params_at),
        number(params_at + 4),
        number(params_at + 8),
    );
    if m_cost > MAX_M_COST || t_cost > MAX_T_COST || p_cost > MAX_P_COST {
        bail!("the encrypted export asks for argon2id costs beyond this coffer's limits");
    }
    let salt = &header[params_at + 12..params_at + 12 + SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&header[params_at + 12 + SALT_LEN..]);
    let key = derive(passphrase, salt, m_cost, t_cost, p_cost)?;
    let mut buffer = Zeroizing::new(ciphertext.to_vec());
    let plaintext_len = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(header),
            &mut buffer,
        )
        .map_err(|_| {
            anyhow::anyhow!("cannot decrypt the export: wrong passphrase, or the file was modified")
        })?
        .len();
    buffer.truncate(plaintext_len);
    Ok((format, buffer))
}

fn derive(
    passphrase: &Passphrase,
    salt: &[u8],
    m_cost: u32,
    t_cost: u32,
    p_cost: u32,
) -> anyhow::Result<LessSafeKey> {
    let params = Params::new(m_cost, t_cost, p_cost, Some(32))
        .map_err(|_| anyhow::anyhow!("the encrypted export has invalid argon2id costs"))?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.0.as_bytes(), salt, &mut *key)
        .map_err(|_| anyhow::anyhow!("argon2id key derivation failed"))?;
    let unbound = UnboundKey::new(&AES_256_GCM, &*key)
        .map_err(|_| anyhow::anyhow!("cannot build the AES-256-GCM key"))?;
    Ok(LessSafeKey::new(unbound))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passphrase(text: &str) -> Passphrase {
        Passphrase::new(Zeroizing::new(text.to_owned())).expect("non-empty")
    }

    #[test]
    fn round_trip_and_wrong_passphrase() {
        let plaintext = b"API_KEY=\"s3cret\"\n";
        let armored = seal(plaintext, 1, &passphrase("correct horse")).expect("seals");
        assert!(is_sealed(&armored));
        assert!(armored.starts_with("-----BEGIN COFFER-EXPORT-1-----\n"));
        assert!(!armored.contains("s3cret"));
        let (format, opened) = open(&armored, &passphrase("correct horse")).expect("opens");
        assert_eq!((format, opened.as_slice()), (1, &plaintext[..]));
        let error = open(&armored, &passphrase("wrong")).expect_err("wrong passphrase");
        assert_eq!(
            error.to_string(),
            "cannot decrypt the export: wrong passphrase, or the file was modified"
        );
    }

    #[test]
    fn damaged_envelopes_are_refused_without_panicking() {
        let pass = passphrase("p");
        for text in [
            "-----BEGIN COFFER-EXPORT-1-----\n-----END COFFER-EXPORT-1-----",
            "-----BEGIN COFFER-EXPORT-1-----\n!!!\n-----END COFFER-EXPORT-1-----",
            "-----BEGIN COFFER-EXPORT-1-----\nQ09GRkVS\n-----END COFFER-EXPORT-1-----",
            "plain text",
        ] {
            assert!(open(text, &pass).is_err(), "{text}");
        }
        let armored = seal(b"x", 2, &pass).expect("seals");
        // Flip the format byte (associated data): the tag no longer verifies.
        let compact: String = armored
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        let mut bytes = STANDARD.decode(compact).expect("base64");
        bytes[MAGIC.len()] = 3;
        let tampered = format!("{BEGIN}\n{}\n{END}\n", STANDARD.encode(&bytes));
        assert!(open(&tampered, &pass).is_err());
        assert!(Passphrase::new(Zeroizing::new(String::new())).is_err());
    }
}
