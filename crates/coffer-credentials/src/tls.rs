//! `tls-certificate`: a PEM certificate chain (leaf first) plus the leaf's private key, in one
//! value. The private key must match the leaf's public key; which key types are supported is
//! documented in [`crate::private_key`]. Expiry is a warning, not an error.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::SystemTime;

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry::{OID_KEY_TYPE_EC_PUBLIC_KEY, OID_SIG_ED25519};
use x509_parser::public_key::PublicKey as CertPublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::error::{Error, Result};
use crate::kind::CredentialType;
use crate::private_key::{self, Curve, PublicKey};
use crate::{Inspection, pem, timestamp};

const KIND: CredentialType = CredentialType::TlsCertificate;
const CERTIFICATE_LABEL: &str = "CERTIFICATE";

fn invalid(reason: &'static str) -> Error {
    Error::Invalid { kind: KIND, reason }
}

/// Validates chain and key and records `subject`, `issuer`, `sans`, `serial`, `notBefore`,
/// `notAfter`, `fingerprint` (SHA-256 hex of the leaf DER) and `chainLength`.
pub(crate) fn inspect(value: &str, now: SystemTime, inspection: &mut Inspection) -> Result<()> {
    if value.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(invalid("encrypted private keys are not supported"));
    }
    let blocks = pem::blocks(KIND, value)?;
    let mut certificates = Vec::new();
    let mut key = None;
    for block in &blocks {
        match block.label.as_str() {
            CERTIFICATE_LABEL => certificates.push(parse_certificate(&block.body)?),
            private_key::PKCS1_LABEL
            | private_key::SEC1_LABEL
            | private_key::PKCS8_LABEL
            | private_key::ENCRYPTED_PKCS8_LABEL => {
                if key.replace(block).is_some() {
                    return Err(invalid("the value holds more than one private key"));
                }
            }
            _ => {
                return Err(invalid(
                    "the value holds a PEM block that is not a certificate or key",
                ));
            }
        }
    }
    let Some(leaf) = certificates.first() else {
        return Err(invalid("no CERTIFICATE block found"));
    };
    let Some(key) = key else {
        return Err(invalid("no PRIVATE KEY block found"));
    };
    let private_public = private_key::parse(KIND, &key.label, &key.body)?;
    if !matches_certificate(&private_public, leaf.public_key())? {
        return Err(Error::KeyMismatch);
    }

    inspection.set("subject", leaf.subject().to_string());
    inspection.set("issuer", leaf.issuer().to_string());
    let sans = subject_alternative_names(leaf)?;
    if !sans.is_empty() {
        inspection.set("sans", sans.join(","));
    }
    inspection.set("serial", leaf.tbs_certificate.serial.to_str_radix(16));
    let not_before = leaf.validity().not_before.timestamp();
    let not_after = leaf.validity().not_after.timestamp();
    inspection.set("notBefore", timestamp::rfc3339(not_before));
    inspection.set("notAfter", timestamp::rfc3339(not_after));
    let fingerprint = ring::digest::digest(&ring::digest::SHA256, leaf.as_raw());
    inspection.set("fingerprint", hex::encode(fingerprint.as_ref()));
    inspection.set("chainLength", certificates.len().to_string());
    inspection.set("keyAlgorithm", key_algorithm(&private_public));
    inspection.set("keyBits", private_public.bits().to_string());
    inspection.expires_at = timestamp::from_unix_seconds(not_after);

    let now = timestamp::unix_seconds(now);
    if not_after < now {
        inspection.warn(format!(
            "the certificate expired at {}",
            timestamp::rfc3339(not_after)
        ));
    }
    if not_before > now {
        inspection.warn(format!(
            "the certificate is not valid before {}",
            timestamp::rfc3339(not_before)
        ));
    }
    for (position, pair) in certificates.windows(2).enumerate() {
        if let [child, parent] = pair
            && child.issuer().as_raw() != parent.subject().as_raw()
        {
            inspection.warn(format!(
                "chain certificate {} is not the issuer of certificate {}; the chain may be out of order",
                position + 2,
                position + 1
            ));
        }
    }
    for (position, certificate) in certificates.iter().enumerate().skip(1) {
        if certificate.validity().not_after.timestamp() < now {
            inspection.warn(format!("chain certificate {} has expired", position + 1));
        }
    }
    Ok(())
}

fn parse_certificate(der: &[u8]) -> Result<X509Certificate<'_>> {
    match x509_parser::parse_x509_certificate(der) {
        Ok(([], certificate)) => Ok(certificate),
        Ok(_) => Err(invalid("a certificate has trailing data")),
        Err(_) => Err(invalid(
            "a certificate is not valid X.509 (truncated or corrupt)",
        )),
    }
}

/// Whether the key checked from the private key is the certificate's public key.
fn matches_certificate(key: &PublicKey, spki: &SubjectPublicKeyInfo<'_>) -> Result<bool> {
    let algorithm = &spki.algorithm.algorithm;
    Ok(match key {
        PublicKey::Rsa { modulus, exponent } => match spki.parsed() {
            Ok(CertPublicKey::RSA(rsa)) => {
                strip_zeros(rsa.modulus) == modulus.as_slice()
                    && strip_zeros(rsa.exponent) == exponent.as_slice()
            }
            _ => false,
        },
        PublicKey::Ecdsa { curve, point } => {
            let cert_curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok());
            *algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY
                && cert_curve.is_some_and(|oid| curve_matches(*curve, &oid))
                && spki.subject_public_key.data.as_ref() == point.as_slice()
        }
        PublicKey::Ed25519(bytes) => {
            *algorithm == OID_SIG_ED25519
                && spki.subject_public_key.data.as_ref() == bytes.as_slice()
        }
    })
}

fn curve_matches(curve: Curve, oid: &x509_parser::asn1_rs::Oid<'_>) -> bool {
    use x509_parser::oid_registry::{OID_EC_P256, OID_NIST_EC_P384};
    match curve {
        Curve::P256 => *oid == OID_EC_P256,
        Curve::P384 => *oid == OID_NIST_EC_P384,
    }
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

fn key_algorithm(key: &PublicKey) -> &'static str {
    match key {
        PublicKey::Rsa { .. } => "rsa",
        PublicKey::Ecdsa {
            curve: Curve::P256, ..
        } => "ecdsa-p256",
        PublicKey::Ecdsa {
            curve: Curve::P384, ..
        } => "ecdsa-p384",
        PublicKey::Ed25519(_) => "ed25519",
    }
}

/// DNS names, IP addresses, e-mail addresses and URIs from the SAN extension.
fn subject_alternative_names(certificate: &X509Certificate<'_>) -> Result<Vec<String>> {
    let extension = certificate
        .subject_alternative_name()
        .map_err(|_| invalid("the subject alternative name extension is malformed"))?;
    let Some(extension) = extension else {
        return Ok(Vec::new());
    };
    Ok(extension
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some((*dns).to_owned()),
            GeneralName::RFC822Name(email) => Some((*email).to_owned()),
            GeneralName::URI(uri) => Some((*uri).to_owned()),
            GeneralName::IPAddress(bytes) => ip_address(bytes).map(|ip| ip.to_string()),
            _ => None,
        })
        .collect())
}

fn ip_address(bytes: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        Some(IpAddr::V4(Ipv4Addr::from(v4)))
    } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        Some(IpAddr::V6(Ipv6Addr::from(v6)))
    } else {
        None
    }
}
