#!/usr/bin/env bash
# The whole test suite, doing its own setup: installs npm dependencies and builds the addon
# if needed, then runs the Rust workspace tests and the addon tests (five OS processes over
# QUIC + mTLS, checked by an independent verifier).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules/@napi-rs/cli ]; then
  npm ci --no-audit --no-fund
elif ! ls native/addon/*.node >/dev/null 2>&1; then
  npm run build:native
fi

echo "== cargo test --workspace"
cargo test --workspace --release

echo "== addon tests"
npm run test:addon
