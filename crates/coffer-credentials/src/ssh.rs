//! `ssh-key`: an OpenSSH private key (`-----BEGIN OPENSSH PRIVATE KEY-----`, possibly
//! passphrase-encrypted) or a PEM private key (PKCS#1 RSA, SEC1 EC, PKCS#8; see
//! [`crate::private_key`]). Metadata comes from the public half, which OpenSSH stores in clear
//! even for encrypted keys, so an encrypted key is accepted without its passphrase.

use ssh_key::public::{EcdsaPublicKey, Ed25519PublicKey, KeyData, RsaPublicKey};
use ssh_key::{EcdsaCurve, HashAlg, Kdf, Mpint, PrivateKey};

use crate::error::{Error, Result};
use crate::kind::CredentialType;
use crate::pem;
use crate::private_key::{self, PublicKey};
use crate::{Inspection, SecretValue};

const KIND: CredentialType = CredentialType::SshKey;
const OPENSSH_LABEL: &str = "OPENSSH PRIVATE KEY";

/// Highest bcrypt-pbkdf round count for which a passphrase is checked. `ssh-keygen` uses 16 by
/// default; the count comes from the untrusted key, so it is capped to bound the work.
const MAX_KDF_ROUNDS: u32 = 1024;

fn invalid(reason: &'static str) -> Error {
    Error::Invalid { kind: KIND, reason }
}

/// Validates the key and records `algorithm`, `bits`, `fingerprint`, `publicKey`, `comment`
/// and `encrypted`.
pub(crate) fn inspect(
    value: &str,
    passphrase: Option<&SecretValue>,
    inspection: &mut Inspection,
) -> Result<()> {
    if value.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(invalid(
            "encrypted PEM private keys are not supported; convert the key to OpenSSH format",
        ));
    }
    let blocks = pem::blocks(KIND, value)?;
    let block = match blocks.as_slice() {
        [] => return Err(invalid("no PEM private key block found")),
        [block] => block,
        _ => return Err(invalid("expected exactly one PEM private key block")),
    };
    if block.label == OPENSSH_LABEL {
        return openssh(&block.body, passphrase, inspection);
    }
    let public = private_key::parse(KIND, &block.label, &block.body)?;
    if passphrase.is_some() {
        inspection.warn("the key is not encrypted; the passphrase is ignored");
    }
    let key_data = match &public {
        PublicKey::Rsa { modulus, exponent } => KeyData::Rsa(RsaPublicKey {
            e: Mpint::from_positive_bytes(exponent).map_err(|_| invalid("bad RSA exponent"))?,
            n: Mpint::from_positive_bytes(modulus).map_err(|_| invalid("bad RSA modulus"))?,
        }),
        PublicKey::Ecdsa { point, .. } => KeyData::Ecdsa(
            EcdsaPublicKey::from_sec1_bytes(point)
                .map_err(|_| invalid("the EC public key is malformed"))?,
        ),
        PublicKey::Ed25519(bytes) => KeyData::Ed25519(Ed25519PublicKey(
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| invalid("bad Ed25519 public key"))?,
        )),
    };
    record_public(&ssh_key::PublicKey::new(key_data, ""), inspection)?;
    inspection.set("encrypted", "false");
    Ok(())
}

fn openssh(
    body: &[u8],
    passphrase: Option<&SecretValue>,
    inspection: &mut Inspection,
) -> Result<()> {
    let key = match PrivateKey::from_bytes(body) {
        Ok(key) => key,
        Err(_) => return openssh_ecdsa_fallback(body, passphrase, inspection),
    };
    let encrypted = key.is_encrypted();
    let key = match (encrypted, passphrase) {
        (true, Some(passphrase)) => decrypt(&key, passphrase, inspection)?.unwrap_or(key),
        (true, None) => {
            inspection.warn("the key is encrypted and no passphrase was given to check");
            key
        }
        (false, Some(_)) => {
            inspection.warn("the key is not encrypted; the passphrase is ignored");
            key
        }
        (false, None) => key,
    };
    record_public(key.public_key(), inspection)?;
    // The comment of an encrypted key is inside the encrypted part.
    if !key.comment().is_empty() {
        inspection.set("comment", key.comment());
    }
    inspection.set("encrypted", encrypted.to_string());
    Ok(())
}

/// The decrypted key, or `None` (with a warning) when the KDF is too costly to run.
fn decrypt(
    key: &PrivateKey,
    passphrase: &SecretValue,
    inspection: &mut Inspection,
) -> Result<Option<PrivateKey>> {
    if let Kdf::Bcrypt { rounds, .. } = key.kdf()
        && *rounds > MAX_KDF_ROUNDS
    {
        inspection.warn(format!(
            "the key's KDF uses {rounds} rounds (more than {MAX_KDF_ROUNDS}); \
             the passphrase was not checked"
        ));
        return Ok(None);
    }
    match key.decrypt(passphrase.expose().as_bytes()) {
        Ok(decrypted) => Ok(Some(decrypted)),
        Err(ssh_key::Error::AlgorithmUnknown | ssh_key::Error::AlgorithmUnsupported { .. }) => {
            Err(Error::UnsupportedKey {
                kind: KIND,
                algorithm: format!("cipher {}", key.cipher().as_str()),
            })
        }
        Err(_) => Err(Error::WrongPassphrase),
    }
}

fn record_public(public: &ssh_key::PublicKey, inspection: &mut Inspection) -> Result<()> {
    let key_data = public.key_data();
    inspection.set("algorithm", key_data.algorithm().as_str());
    if let Some(bits) = bits(key_data) {
        inspection.set("bits", bits.to_string());
    }
    inspection.set(
        "fingerprint",
        public.fingerprint(HashAlg::Sha256).to_string(),
    );
    let line = public
        .to_openssh()
        .map_err(|_| invalid("the public key cannot be encoded"))?;
    inspection.set("publicKey", line);
    Ok(())
}

fn bits(key_data: &KeyData) -> Option<u64> {
    match key_data {
        KeyData::Rsa(rsa) => rsa.n.as_positive_bytes().map(bit_length),
        KeyData::Dsa(dsa) => dsa.p.as_positive_bytes().map(bit_length),
        KeyData::Ecdsa(ecdsa) => Some(match ecdsa.curve() {
            EcdsaCurve::NistP256 => 256,
            EcdsaCurve::NistP384 => 384,
            EcdsaCurve::NistP521 => 521,
        }),
        KeyData::Ed25519(_) | KeyData::SkEd25519(_) | KeyData::SkEcdsaSha2NistP256(_) => Some(256),
        _ => None,
    }
}

/// Bit length of a big-endian unsigned integer.
fn bit_length(bytes: &[u8]) -> u64 {
    let significant = bytes.iter().skip_while(|b| **b == 0);
    let mut significant = significant.peekable();
    let Some(first) = significant.peek().copied() else {
        return 0;
    };
    let rest = significant.count() as u64 - 1;
    rest * 8 + u64::from(8 - first.leading_zeros())
}

/// A length-prefixed SSH wire string taken from the front of `input`.
fn take_string<'a>(input: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (length, rest) = input.split_first_chunk::<4>()?;
    let length = usize::try_from(u32::from_be_bytes(*length)).ok()?;
    let (string, rest) = (rest.get(..length)?, rest.get(length..)?);
    *input = rest;
    Some(string)
}

/// Reads an unencrypted OpenSSH ECDSA key that `ssh-key` 0.6 rejects: it requires the private
/// scalar at full width, while OpenSSH writes it as a minimal mpint (a P-521 key in two, a
/// P-256 key in 256). Checks the magic, the check-integers, and that the private section's
/// public point is the clear public key; anything else stays "not a valid key".
fn openssh_ecdsa_fallback(
    body: &[u8],
    passphrase: Option<&SecretValue>,
    inspection: &mut Inspection,
) -> Result<()> {
    let corrupt = || invalid("not a valid OpenSSH private key (truncated or corrupt)");
    let mut input = body
        .strip_prefix(b"openssh-key-v1\0".as_slice())
        .ok_or_else(corrupt)?;
    let cipher = take_string(&mut input).ok_or_else(corrupt)?;
    let _kdf = take_string(&mut input).ok_or_else(corrupt)?;
    let _kdf_options = take_string(&mut input).ok_or_else(corrupt)?;
    let (count, rest) = input.split_first_chunk::<4>().ok_or_else(corrupt)?;
    input = rest;
    let public_blob = take_string(&mut input).ok_or_else(corrupt)?;
    let mut private = take_string(&mut input).ok_or_else(corrupt)?;
    let public = ssh_key::PublicKey::from_bytes(public_blob).map_err(|_| corrupt())?;
    let Some(point) = public.key_data().ecdsa().map(EcdsaPublicKey::as_sec1_bytes) else {
        return Err(corrupt());
    };
    if cipher != b"none" || u32::from_be_bytes(*count) != 1 || !input.is_empty() {
        return Err(corrupt());
    }
    let (check1, rest) = private.split_first_chunk::<4>().ok_or_else(corrupt)?;
    let (check2, rest) = rest.split_first_chunk::<4>().ok_or_else(corrupt)?;
    private = rest;
    let _key_type = take_string(&mut private).ok_or_else(corrupt)?;
    let _curve = take_string(&mut private).ok_or_else(corrupt)?;
    let private_point = take_string(&mut private).ok_or_else(corrupt)?;
    let scalar = take_string(&mut private).ok_or_else(corrupt)?;
    let comment = take_string(&mut private).ok_or_else(corrupt)?;
    if check1 != check2 || private_point != point || scalar.is_empty() {
        return Err(corrupt());
    }
    if passphrase.is_some() {
        inspection.warn("the key is not encrypted; the passphrase is ignored");
    }
    record_public(&public, inspection)?;
    let comment = std::str::from_utf8(comment).map_err(|_| corrupt())?;
    if !comment.is_empty() {
        inspection.set("comment", comment);
        // Match the public line OpenSSH itself prints for the key.
        let line = ssh_key::PublicKey::new(public.key_data().clone(), comment)
            .to_openssh()
            .map_err(|_| invalid("the public key cannot be encoded"))?;
        inspection.set("publicKey", line);
    }
    inspection.set("encrypted", "false");
    Ok(())
}
