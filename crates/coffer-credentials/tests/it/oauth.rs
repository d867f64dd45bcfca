//! `oauth-token`: bare tokens, token-response JSON, and JWT claims.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coffer_credentials::CredentialType;

use crate::support::check_with;

fn check(value: &str, expect: &str) {
    check_with(CredentialType::OauthToken, value, None, &[], &[], expect);
}

fn jwt(header: &str, claims: &str) -> String {
    format!(
        "{}.{}.c2lnbmF0dXJlLXNlY3JldA",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    )
}

#[test]
fn bare_tokens() {
    check("ya29.a0AfH6SMBopaque", "hasRefreshToken=false");
    check(
        "gho_16C7e42F292c6912E7710c838347Ae178B4a",
        "hasRefreshToken=false",
    );
    check(
        "two words",
        "error: invalid oauth-token: a bare token must not contain whitespace",
    );
    // Three dot-separated parts that are not a JWT header are an opaque token.
    check("aaa.bbb.ccc", "hasRefreshToken=false");
}

#[test]
fn token_response_json() {
    check(
        r#"{"access_token":"at-1","refresh_token":"rt-1","expires_in":3600,"scope":"repo read:org","token_type":"bearer"}"#,
        "expiresAt=2023-11-14T23:13:20Z\nhasRefreshToken=true\nscopes=repo,read:org\ntokenType=bearer\nexpires_at: 1700003600",
    );
    check(r#"{"access_token":"at-1"}"#, "hasRefreshToken=false");
    check(
        r#"{"access_token":"at-1","refresh_token":null,"expires_in":"60"}"#,
        "expiresAt=2023-11-14T22:14:20Z\nhasRefreshToken=false\nexpires_at: 1700000060",
    );
    check(
        r#"{"access_token":"at-1","expires_at":"2030-01-01T00:00:00Z"}"#,
        "expiresAt=2030-01-01T00:00:00Z\nhasRefreshToken=false\nexpires_at: 1893456000",
    );
    check(
        r#"{"access_token":"at-1","expires_at":1600000000}"#,
        "expiresAt=2020-09-13T12:26:40Z\nhasRefreshToken=false\nwarning: the token expired at 2020-09-13T12:26:40Z\nexpires_at: 1600000000",
    );
}

#[test]
fn malformed_token_json() {
    check(
        r#"{"access_token": "at-1""#,
        "error: invalid oauth-token: the token JSON is malformed",
    );
    check(
        "{not json}",
        "error: invalid oauth-token: the token JSON is malformed",
    );
    check(
        r#"{"refresh_token":"rt"}"#,
        "error: invalid oauth-token: access_token is missing or empty",
    );
    check(
        r#"{"access_token":""}"#,
        "error: invalid oauth-token: access_token is missing or empty",
    );
    check(
        r#"{"access_token":42}"#,
        "error: invalid oauth-token: access_token must be a string",
    );
    check(
        r#"{"access_token":"a","expires_in":"soon"}"#,
        "error: invalid oauth-token: expires_in must be whole seconds",
    );
    check(
        r#"{"access_token":"a","expires_at":"yesterday"}"#,
        "error: invalid oauth-token: expires_at must be Unix seconds or an RFC 3339 time",
    );
    check(
        r#"{"access_token":"a","scope":["x"]}"#,
        "error: invalid oauth-token: scope must be a space-separated string",
    );
}

#[test]
fn jwt_claims() {
    let token = jwt(
        r#"{"alg":"RS256","typ":"JWT"}"#,
        r#"{"iss":"https://issuer.example","sub":"agent-7","aud":["api","admin"],"exp":1800000000,"scope":"read write"}"#,
    );
    check(
        &token,
        "expiresAt=2027-01-15T08:00:00Z\nhasRefreshToken=false\njwtAlgorithm=RS256\njwtAudience=api,admin\njwtIssuer=https://issuer.example\njwtSubject=agent-7\nscopes=read,write\nexpires_at: 1800000000",
    );
    // Expired JWT: a warning, still valid.
    let expired = jwt(
        r#"{"alg":"HS256"}"#,
        r#"{"aud":"api","exp":1600000000.5,"scp":["a","b"]}"#,
    );
    check(
        &expired,
        "expiresAt=2020-09-13T12:26:40Z\nhasRefreshToken=false\njwtAlgorithm=HS256\njwtAudience=api\nscopes=a,b\nwarning: the token expired at 2020-09-13T12:26:40Z\nexpires_at: 1600000000",
    );
    // Inside a token response, the earlier of `expires_in` and `exp` wins.
    let response = format!(r#"{{"access_token":"{token}","expires_in":60,"refresh_token":"rt"}}"#);
    check(
        &response,
        "expiresAt=2023-11-14T22:14:20Z\nhasRefreshToken=true\njwtAlgorithm=RS256\njwtAudience=api,admin\njwtIssuer=https://issuer.example\njwtSubject=agent-7\nscopes=read,write\nexpires_at: 1700000060",
    );
    // A JWT header with a payload that is not JSON is an error.
    let broken = format!(
        "{}.bm90IGpzb24.sig",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#)
    );
    check(
        &broken,
        "error: invalid oauth-token: the JWT payload is not base64url-encoded JSON",
    );
    // Absurd expiry values do not panic.
    let far = jwt(r#"{"alg":"none"}"#, r#"{"exp":1e300}"#);
    let (rendered, _) = crate::support::run(CredentialType::OauthToken, &far, None);
    assert!(rendered.contains("jwtAlgorithm=none"), "{rendered}");
}

#[test]
fn tokens_never_appear_in_output() {
    let signature = "c2lnbmF0dXJlLXNlY3JldA";
    let token = jwt(r#"{"alg":"RS256"}"#, r#"{"sub":"agent"}"#);
    let value = format!(
        r#"{{"access_token":"{token}","refresh_token":"refresh-SECRET-value","expires_in":10}}"#
    );
    check_with(
        CredentialType::OauthToken,
        &value,
        None,
        &[],
        &[&token, signature, "refresh-SECRET-value"],
        "expiresAt=2023-11-14T22:13:30Z\nhasRefreshToken=true\njwtAlgorithm=RS256\njwtSubject=agent\nexpires_at: 1700000010",
    );
    // Malformed JSON errors do not quote the value.
    check_with(
        CredentialType::OauthToken,
        r#"{"access_token":"leaky-SECRET"#,
        None,
        &[],
        &["leaky-SECRET"],
        "error: invalid oauth-token: the token JSON is malformed",
    );
}
