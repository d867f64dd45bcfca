//! `api-key`: any non-empty string; a known non-secret prefix names the service.

use crate::Inspection;

/// Known key prefixes and the service that issues them; the longest matching prefix wins.
/// Ambiguous prefixes (e.g. Datadog keys are bare hex) are left out on purpose.
const KNOWN_PREFIXES: &[(&str, &str)] = &[
    ("sk-ant-", "anthropic"),
    ("sk-proj-", "openai"),
    ("sk-svcacct-", "openai"),
    ("sk-", "openai"),
    ("sk_live_", "stripe"),
    ("sk_test_", "stripe"),
    ("rk_live_", "stripe"),
    ("rk_test_", "stripe"),
    ("pk_live_", "stripe"),
    ("pk_test_", "stripe"),
    ("whsec_", "stripe"),
    ("ghp_", "github"),
    ("gho_", "github"),
    ("ghu_", "github"),
    ("ghs_", "github"),
    ("ghr_", "github"),
    ("github_pat_", "github"),
    ("glpat-", "gitlab"),
    ("AKIA", "aws"),
    ("ASIA", "aws"),
    ("xoxb-", "slack"),
    ("xoxp-", "slack"),
    ("xapp-", "slack"),
    ("SG.", "sendgrid"),
    ("AIza", "google"),
    ("hf_", "huggingface"),
    ("npm_", "npm"),
    ("pypi-", "pypi"),
    ("dop_v1_", "digitalocean"),
    ("shpat_", "shopify"),
    ("sq0atp-", "square"),
    ("lin_api_", "linear"),
];

/// Records `prefix` and `service` when the key starts with a known prefix.
pub(crate) fn inspect(value: &str, inspection: &mut Inspection) {
    let key = value.trim();
    if key.len() != value.len() {
        inspection.warn("the value has leading or trailing whitespace");
    }
    if key.chars().any(char::is_whitespace) {
        inspection.warn("the value contains whitespace");
    }
    let known = KNOWN_PREFIXES
        .iter()
        // The prefix alone is not a key: require some key material after it.
        .filter(|(prefix, _)| key.len() > prefix.len() && key.starts_with(prefix))
        .max_by_key(|(prefix, _)| prefix.len());
    if let Some((prefix, service)) = known {
        inspection.set("prefix", *prefix);
        inspection.set("service", *service);
    }
}
