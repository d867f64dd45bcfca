//! `tls-certificate`: certificates generated with rcgen (ECDSA P-256, Ed25519, a CA chain) and
//! `openssl` (RSA); fingerprints are checked against the DER and `openssl`'s own output.

use std::net::{IpAddr, Ipv4Addr};

use coffer_credentials::CredentialType;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType, SerialNumber,
    date_time_ymd,
};

use crate::support::{check_with, private_key_lines, read, tool};

const KIND: CredentialType = CredentialType::TlsCertificate;

fn sha256_hex(der: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, der).as_ref())
}

fn leaf_params(not_after: (i32, u8, u8)) -> CertificateParams {
    let mut params =
        CertificateParams::new(vec!["api.example.com".to_owned()]).expect("static SANs are valid");
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))));
    params
        .distinguished_name
        .push(DnType::CommonName, "api.example.com");
    params.serial_number = Some(SerialNumber::from(0x1234_u64));
    params.not_before = date_time_ymd(2023, 1, 1);
    params.not_after = date_time_ymd(not_after.0, not_after.1, not_after.2);
    params
}

/// A self-signed certificate PEM, its key PEM and the certificate DER.
fn self_signed(
    algorithm: &'static rcgen::SignatureAlgorithm,
    not_after: (i32, u8, u8),
) -> (String, String, Vec<u8>) {
    let key = KeyPair::generate_for(algorithm).expect("ring generates the key");
    let cert = leaf_params(not_after)
        .self_signed(&key)
        .expect("rcgen signs");
    (cert.pem(), key.serialize_pem(), cert.der().to_vec())
}

fn check(value: &str, fingerprint: &str, expect: &str) {
    let lines = private_key_lines(value);
    let secrets: Vec<&str> = lines.iter().map(String::as_str).collect();
    // "-" marks cases (errors) with no fingerprint to substitute.
    let substitutions: &[(&str, &str)] = if fingerprint == "-" {
        &[]
    } else {
        &[(fingerprint, "<fingerprint>")]
    };
    check_with(KIND, value, None, substitutions, &secrets, expect);
}

const LEAF: &str = "issuer=CN=api.example.com\nkeyAlgorithm=ecdsa-p256\nkeyBits=256\nnotAfter=2030-01-01T00:00:00Z\nnotBefore=2023-01-01T00:00:00Z\nsans=api.example.com,10.0.0.1\nserial=1234\nsubject=CN=api.example.com";

#[test]
fn self_signed_ecdsa_and_ed25519() {
    let (cert, key, der) = self_signed(&rcgen::PKCS_ECDSA_P256_SHA256, (2030, 1, 1));
    let fingerprint = sha256_hex(&der);
    let expect =
        format!("chainLength=1\nfingerprint=<fingerprint>\n{LEAF}\nexpires_at: 1893456000");
    check(&format!("{cert}{key}"), &fingerprint, &expect);
    // Key first, then the certificate, with text around the blocks: same result.
    check(
        &format!("# bundle\n{key}\n{cert}\ntrailing note\n"),
        &fingerprint,
        &expect,
    );

    let (cert, key, der) = self_signed(&rcgen::PKCS_ED25519, (2030, 1, 1));
    check(
        &format!("{cert}{key}"),
        &sha256_hex(&der),
        &format!(
            "chainLength=1\nfingerprint=<fingerprint>\n{}\nexpires_at: 1893456000",
            LEAF.replace("ecdsa-p256", "ed25519")
        ),
    );
}

#[test]
fn chain_with_ca() {
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("ring generates");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("no SANs is valid");
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Coffer Test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.not_before = date_time_ymd(2020, 1, 1);
    ca_params.not_after = date_time_ymd(2040, 1, 1);
    let ca = ca_params.self_signed(&ca_key).expect("rcgen signs");
    let issuer = Issuer::new(ca_params, &ca_key);
    let leaf_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("ring generates");
    let leaf = leaf_params((2030, 1, 1))
        .signed_by(&leaf_key, &issuer)
        .expect("rcgen signs");
    let fingerprint = sha256_hex(leaf.der());
    let value = format!("{}{}{}", leaf.pem(), ca.pem(), leaf_key.serialize_pem());
    let expect = format!(
        "chainLength=2\nfingerprint=<fingerprint>\n{}\nexpires_at: 1893456000",
        LEAF.replace("issuer=CN=api.example.com", "issuer=CN=Coffer Test CA")
    );
    check(&value, &fingerprint, &expect);
    // The CA's key does not match the leaf.
    let wrong = format!("{}{}{}", leaf.pem(), ca.pem(), ca_key.serialize_pem());
    check(
        &wrong,
        "-",
        "error: the private key does not match the leaf certificate's public key",
    );
    // Out of order: the CA first makes the CA the leaf, and the leaf key does not match it.
    let reversed = format!("{}{}{}", ca.pem(), leaf.pem(), leaf_key.serialize_pem());
    check(
        &reversed,
        "-",
        "error: the private key does not match the leaf certificate's public key",
    );
}

#[test]
fn expired_and_not_yet_valid() {
    let (cert, key, der) = self_signed(&rcgen::PKCS_ECDSA_P256_SHA256, (2023, 6, 1));
    check(
        &format!("{cert}{key}"),
        &sha256_hex(&der),
        &format!(
            "chainLength=1\nfingerprint=<fingerprint>\n{}\nwarning: the certificate expired at 2023-06-01T00:00:00Z\nexpires_at: 1685577600",
            LEAF.replace(
                "notAfter=2030-01-01T00:00:00Z",
                "notAfter=2023-06-01T00:00:00Z"
            )
        ),
    );
    let key_pair = KeyPair::generate().expect("ring generates");
    let mut params = leaf_params((2031, 1, 1));
    params.not_before = date_time_ymd(2030, 1, 1);
    let cert = params.self_signed(&key_pair).expect("rcgen signs");
    let (rendered, _) = crate::support::run(
        KIND,
        &format!("{}{}", cert.pem(), key_pair.serialize_pem()),
        None,
    );
    assert!(
        rendered.contains("warning: the certificate is not valid before 2030-01-01T00:00:00Z"),
        "{rendered}"
    );
}

#[test]
fn rsa_certificates_from_openssl() {
    let dir = tempfile::tempdir().expect("temporary directories can be created");
    tool(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-subj",
            "/CN=rsa.example/O=Coffer",
            "-days",
            "36500",
            "-addext",
            "subjectAltName=DNS:rsa.example,DNS:www.rsa.example",
        ],
        dir.path(),
    );
    let printed = tool(
        "openssl",
        &[
            "x509",
            "-in",
            "cert.pem",
            "-noout",
            "-fingerprint",
            "-sha256",
        ],
        dir.path(),
    );
    let fingerprint = printed
        .split('=')
        .nth(1)
        .unwrap_or_default()
        .trim()
        .replace(':', "")
        .to_lowercase();
    assert_eq!(fingerprint.len(), 64, "{printed}");
    let cert = read(&dir.path().join("cert.pem"));
    let pkcs8 = read(&dir.path().join("key.pem"));
    tool(
        "openssl",
        &["rsa", "-in", "key.pem", "-traditional", "-out", "rsa.pem"],
        dir.path(),
    );
    let pkcs1 = read(&dir.path().join("rsa.pem"));
    assert!(pkcs1.contains("BEGIN RSA PRIVATE KEY"), "{pkcs1}");
    for key in [&pkcs8, &pkcs1] {
        let (rendered, _) = crate::support::run(KIND, &format!("{cert}{key}"), None);
        for expected in [
            "chainLength=1",
            &format!("fingerprint={fingerprint}"),
            "keyAlgorithm=rsa\nkeyBits=2048",
            "sans=rsa.example,www.rsa.example",
            "subject=CN=rsa.example, O=Coffer",
        ] {
            assert!(
                rendered.contains(expected),
                "missing {expected:?} in\n{rendered}"
            );
        }
        for line in private_key_lines(key) {
            assert!(!rendered.contains(&line));
        }
    }
    // Another RSA key of the same size does not match.
    tool(
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "other.pem",
        ],
        dir.path(),
    );
    let other = read(&dir.path().join("other.pem"));
    check(
        &format!("{cert}{other}"),
        "-",
        "error: the private key does not match the leaf certificate's public key",
    );
}

#[test]
fn malformed_bundles() {
    let (cert, key, _) = self_signed(&rcgen::PKCS_ECDSA_P256_SHA256, (2030, 1, 1));
    let plain = |value: &str, expect: &str| check_with(KIND, value, None, &[], &[], expect);
    plain(
        &cert,
        "error: invalid tls-certificate: no PRIVATE KEY block found",
    );
    check(
        &key,
        "-",
        "error: invalid tls-certificate: no CERTIFICATE block found",
    );
    plain(
        "just text",
        "error: invalid tls-certificate: no CERTIFICATE block found",
    );
    // Truncated PEM: the END line is missing.
    let cut = cert
        .trim_end()
        .rsplit_once('\n')
        .map(|(head, _)| head)
        .unwrap_or_default();
    check(
        &format!("{key}{cut}"),
        "-",
        "error: invalid tls-certificate: a PEM block is truncated (no END line)",
    );
    // Truncated DER: body lines missing, END line present.
    let lines: Vec<&str> = cert.lines().collect();
    let short = [&lines[..3], &lines[lines.len() - 1..]].concat().join("\n");
    check(
        &format!("{short}\n{key}"),
        "-",
        "error: invalid tls-certificate: a certificate is not valid X.509 (truncated or corrupt)",
    );
    check(
        &format!("{cert}{key}{key}"),
        "-",
        "error: invalid tls-certificate: the value holds more than one private key",
    );
    plain(
        &format!("{cert}-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n"),
        "error: invalid tls-certificate: the value holds a PEM block that is not a certificate or key",
    );
    // A corrupted key body is an error that does not quote the key.
    let key_lines: Vec<&str> = key.lines().collect();
    let mangled_key = format!(
        "{}\n{}\n{}\n",
        key_lines[0],
        key_lines[1],
        key_lines[key_lines.len() - 1]
    );
    let (rendered, debug) = crate::support::run(KIND, &format!("{cert}{mangled_key}"), None);
    assert!(rendered.starts_with("error: "), "{rendered}");
    assert!(!rendered.contains(key_lines[1]) && !debug.contains(key_lines[1]));
}
