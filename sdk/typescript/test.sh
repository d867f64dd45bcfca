#!/usr/bin/env bash
# Builds the SDK (src/ -> dist/) and its tests (test/ -> build/), then runs the tests with node's
# test runner against a live `coffer server -dev` that each test file starts
# (target/debug/coffer, or $COFFER_BIN). TypeScript and @types/node come from
# scripts/setup-test-env (node_modules here, never a runtime dependency).
set -euo pipefail
cd "$(dirname "$0")"
tsc=node_modules/.bin/tsc
if [[ ! -x $tsc ]]; then
  echo "sdk/typescript: $tsc is missing; run scripts/setup-test-env" >&2
  exit 1
fi
"$tsc" -p tsconfig.json
rm -rf build
"$tsc" -p tsconfig.test.json
node --test build/test/*.test.js
