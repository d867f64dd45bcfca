#!/usr/bin/env bash
# Write N small KV v2 secrets secret/data/<PREFIX>/k<START> .. k<START+N-1> with parallel curl.
# Usage: populate.sh BASE_URL TOKEN N PREFIX
# Env: PARALLEL (default 16), VALUE_BYTES (default 100), START (default 0)
# Connection-level failures are retried twice (curl --retry-all-errors).
# Prints "populate N ok=<2xx> seconds=<s> rate=<writes/s>" on stderr; exits 1 if any write failed.
set -euo pipefail
BASE=${1:?usage: populate.sh BASE_URL TOKEN N PREFIX}
TOKEN=${2:?token required}
N=${3:?count required}
PREFIX=${4:?prefix required}
PARALLEL=${PARALLEL:-16}
VALUE_BYTES=${VALUE_BYTES:-100}
START=${START:-0}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
val=$(head -c "$VALUE_BYTES" /dev/zero | tr '\0' 'v')
printf '{"data":{"api_key":"%s"}}' "$val" > "$tmp/body.json"
{
  echo "header = \"X-Vault-Token: $TOKEN\""
  echo "header = \"Content-Type: application/json\""
  echo "data-binary = \"@$tmp/body.json\""
  # shellcheck disable=SC2028  # literal \n: curl expands it in write-out
  echo "write-out = \"%{http_code}\\n\""
  for ((i = START; i < START + N; i++)); do
    echo "url = \"$BASE/v1/secret/data/$PREFIX/k$i\""
    echo "output = \"/dev/null\""
  done
} > "$tmp/curl.cfg"
t0=$(date +%s.%N)
curl -s --no-progress-meter --retry 2 --retry-all-errors --parallel --parallel-max "$PARALLEL" --config "$tmp/curl.cfg" > "$tmp/codes" || true
t1=$(date +%s.%N)
ok=$(grep -c '^2' "$tmp/codes" || true)
awk -v n="$N" -v ok="$ok" -v a="$t0" -v b="$t1" \
  'BEGIN { s = b - a; printf "  populate %d ok=%d seconds=%.2f rate=%.0f\n", n, ok, s, n / s }' >&2
if [ "$ok" -ne "$N" ]; then
  echo "populate: $((N - ok)) of $N writes failed; status codes:" >&2
  sort "$tmp/codes" | uniq -c >&2
  exit 1
fi
