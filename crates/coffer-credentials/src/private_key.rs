//! PEM private keys (PKCS#1 `RSA PRIVATE KEY`, SEC1 `EC PRIVATE KEY`, PKCS#8 `PRIVATE KEY`)
//! reduced to their checked public key, shared by `ssh-key` and `tls-certificate`.
//!
//! Supported and checked: RSA (any size; `n = p·q` and `e·d ≡ 1 mod p-1, q-1`), ECDSA P-256 and
//! P-384 (the embedded public key is checked against the private scalar with `ring`), Ed25519
//! (the public key is derived from the seed with `ring`). Anything else, including P-521 and
//! multi-prime RSA, is rejected with [`Error::UnsupportedKey`]; encrypted PEM is rejected too.

use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
use x509_parser::asn1_rs::{Any, Oid};
use x509_parser::num_bigint::BigUint;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_NIST_EC_P521,
    OID_PKCS1_RSAENCRYPTION, OID_SIG_ED25519,
};

use crate::der;
use crate::error::{Error, Result};
use crate::kind::CredentialType;

/// PEM labels of the private key formats this module reads.
pub(crate) const PKCS1_LABEL: &str = "RSA PRIVATE KEY";
pub(crate) const SEC1_LABEL: &str = "EC PRIVATE KEY";
pub(crate) const PKCS8_LABEL: &str = "PRIVATE KEY";
pub(crate) const ENCRYPTED_PKCS8_LABEL: &str = "ENCRYPTED PRIVATE KEY";

/// The public half of a private key whose private half was checked against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PublicKey {
    /// Big-endian modulus and exponent without leading zeros.
    Rsa {
        modulus: Vec<u8>,
        exponent: Vec<u8>,
    },
    /// SEC1 point encoding (uncompressed, as in certificates).
    Ecdsa {
        curve: Curve,
        point: Vec<u8>,
    },
    Ed25519(Vec<u8>),
}

/// NIST curves this module can check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Curve {
    P256,
    P384,
}

impl Curve {
    pub(crate) fn bits(self) -> u32 {
        match self {
            Curve::P256 => 256,
            Curve::P384 => 384,
        }
    }

    fn from_oid(kind: CredentialType, oid: &Oid<'_>) -> Result<Self> {
        if *oid == OID_EC_P256 {
            Ok(Curve::P256)
        } else if *oid == OID_NIST_EC_P384 {
            Ok(Curve::P384)
        } else if *oid == OID_NIST_EC_P521 {
            Err(unsupported(kind, "ecdsa P-521 in PEM form"))
        } else {
            Err(unsupported(kind, &format!("elliptic curve {oid}")))
        }
    }

    fn signing_algorithm(self) -> &'static signature::EcdsaSigningAlgorithm {
        match self {
            Curve::P256 => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            Curve::P384 => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        }
    }
}

impl PublicKey {
    /// Key size in bits: the RSA modulus length or the curve size.
    pub(crate) fn bits(&self) -> u64 {
        match self {
            PublicKey::Rsa { modulus, .. } => BigUint::from_bytes_be(modulus).bits(),
            PublicKey::Ecdsa { curve, .. } => u64::from(curve.bits()),
            PublicKey::Ed25519(_) => 256,
        }
    }
}

/// Parses the DER body of a PEM block labelled `label` and checks its private half.
pub(crate) fn parse(kind: CredentialType, label: &str, der: &[u8]) -> Result<PublicKey> {
    match label {
        PKCS1_LABEL => rsa(kind, der),
        SEC1_LABEL => ec(kind, der, None),
        PKCS8_LABEL => pkcs8(kind, der),
        ENCRYPTED_PKCS8_LABEL => Err(invalid(
            kind,
            "encrypted PKCS#8 private keys are not supported; store the key unencrypted",
        )),
        _ => Err(unsupported(kind, label)),
    }
}

fn invalid(kind: CredentialType, reason: &'static str) -> Error {
    Error::Invalid { kind, reason }
}

fn unsupported(kind: CredentialType, algorithm: &str) -> Error {
    Error::UnsupportedKey {
        kind,
        algorithm: algorithm.to_owned(),
    }
}

/// PKCS#8 `PrivateKeyInfo`: `{ version, algorithm, privateKey, [0] attributes?, [1] public? }`.
fn pkcs8(kind: CredentialType, bytes: &[u8]) -> Result<PublicKey> {
    let malformed = || invalid(kind, "the PKCS#8 private key is malformed");
    let items = der::sequence(bytes).ok_or_else(malformed)?;
    let [version, algorithm, private_key, ..] = items.as_slice() else {
        return Err(malformed());
    };
    if !matches!(der::small_integer(version), Some(0 | 1)) {
        return Err(malformed());
    }
    let algorithm = der::elements(algorithm.data).ok_or_else(malformed)?;
    let (oid, parameters) = match algorithm.as_slice() {
        [oid] => (der::oid(oid).ok_or_else(malformed)?, None),
        [oid, parameters] => (der::oid(oid).ok_or_else(malformed)?, Some(parameters)),
        _ => return Err(malformed()),
    };
    let inner = der::octet_string(private_key).ok_or_else(malformed)?;
    if oid == OID_PKCS1_RSAENCRYPTION {
        rsa(kind, inner)
    } else if oid == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = parameters.and_then(der::oid).ok_or_else(malformed)?;
        ec(kind, inner, Some(Curve::from_oid(kind, &curve)?))
    } else if oid == OID_SIG_ED25519 {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(bytes)
            .map_err(|_| invalid(kind, "the Ed25519 private key is malformed or inconsistent"))?;
        Ok(PublicKey::Ed25519(pair.public_key().as_ref().to_vec()))
    } else {
        Err(unsupported(kind, &format!("PKCS#8 algorithm {oid}")))
    }
}

/// PKCS#1 `RSAPrivateKey`: `{ version, n, e, d, p, q, dp, dq, qinv }`.
fn rsa(kind: CredentialType, bytes: &[u8]) -> Result<PublicKey> {
    let malformed = || invalid(kind, "the RSA private key is malformed");
    let items = der::sequence(bytes).ok_or_else(malformed)?;
    let [version, n, e, d, p, q, _dp, _dq, _qinv, rest @ ..] = items.as_slice() else {
        return Err(malformed());
    };
    match der::small_integer(version) {
        Some(0) if rest.is_empty() => {}
        Some(1) => return Err(unsupported(kind, "multi-prime RSA")),
        _ => return Err(malformed()),
    }
    fn integer<'a>(item: &Any<'a>, malformed: impl Fn() -> Error) -> Result<&'a [u8]> {
        der::unsigned_integer(item).ok_or_else(malformed)
    }
    let (modulus, exponent) = (integer(n, malformed)?, integer(e, malformed)?);
    let (d, p, q) = (
        integer(d, malformed)?,
        integer(p, malformed)?,
        integer(q, malformed)?,
    );
    let [n, e, d, p, q] = [modulus, exponent, d, p, q].map(BigUint::from_bytes_be);
    let one = BigUint::from(1u8);
    let consistent = p > one
        && q > one
        && n == &p * &q
        && (&e * &d) % (&p - &one) == one
        && (&e * &d) % (&q - &one) == one;
    if !consistent {
        return Err(invalid(kind, "the RSA private key is inconsistent"));
    }
    Ok(PublicKey::Rsa {
        modulus: modulus.to_vec(),
        exponent: exponent.to_vec(),
    })
}

/// SEC1 `ECPrivateKey`: `{ version 1, privateKey, [0] curve?, [1] publicKey? }`. `curve` comes
/// from the PKCS#8 wrapper when there is one.
fn ec(kind: CredentialType, bytes: &[u8], curve: Option<Curve>) -> Result<PublicKey> {
    let malformed = || invalid(kind, "the EC private key is malformed");
    let items = der::sequence(bytes).ok_or_else(malformed)?;
    let [version, scalar, optional @ ..] = items.as_slice() else {
        return Err(malformed());
    };
    if der::small_integer(version) != Some(1) {
        return Err(malformed());
    }
    let scalar = der::octet_string(scalar).ok_or_else(malformed)?;
    let mut named_curve = None;
    let mut point = None;
    for item in optional {
        if let Some(parameters) = der::explicit(item, 0) {
            named_curve = Some(der::oid(&parameters).ok_or_else(malformed)?);
        } else if let Some(public) = der::explicit(item, 1) {
            point = Some(der::bit_string(&public).ok_or_else(malformed)?);
        } else {
            return Err(malformed());
        }
    }
    let curve = match (curve, named_curve) {
        (Some(outer), Some(inner)) if Curve::from_oid(kind, &inner)? != outer => {
            return Err(malformed());
        }
        (Some(outer), _) => outer,
        (None, Some(inner)) => Curve::from_oid(kind, &inner)?,
        (None, None) => return Err(invalid(kind, "the EC private key does not name its curve")),
    };
    let point = point.ok_or_else(|| {
        invalid(
            kind,
            "the EC private key does not include its public key; re-export it with one",
        )
    })?;
    let rng = SystemRandom::new();
    EcdsaKeyPair::from_private_key_and_public_key(curve.signing_algorithm(), scalar, point, &rng)
        .map_err(|_| {
        invalid(
            kind,
            "the EC private key is inconsistent with its public key",
        )
    })?;
    Ok(PublicKey::Ecdsa {
        curve,
        point: point.to_vec(),
    })
}
