#!/usr/bin/env bash
# The whole test suite, doing its own setup: installs npm dependencies and builds the addon
# and the TypeScript packages if needed, then runs every layer:
#   1. lint: ESLint with type information (floating and misused promises, exhaustive
#      switches, unused code) and the import boundaries between rooms (eslint.config.mjs);
#      Prettier (--check); cargo fmt --check and cargo clippy -D warnings
#   2. Rust: engine unit tests and five nodes over real QUIC + mTLS in one process
#   3. addon: the JavaScript contract, five OS processes checked by an independent verifier
#   4. libs/bitcoin: BIP32/84/86/341/380 vectors, coin selection, sighash messages, PSBT
#   5. apps/regtest: the embedded chain refuses every invalid spend (Core's consensus library)
#   6. apps/node: config, migrations, audit chain, leader election on 3 etcd members, HTTP
#      errors, five node processes running DKG and real sends through the REST API
#      (real etcd, PostgreSQL, regtest chain)
#   7. apps/cli: commands, and the devnet end to end through the built binary
#   8. ops: docker-compose and .env.example consistency, the compose stack run as processes
#      (docker/README.md's steps up to a confirmed regtest spend through the CLI), promtool on
#      the Prometheus config and alert rules, Grafana dashboards' metric names, the image's
#      start command
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules/@napi-rs/cli ]; then
  npm ci --no-audit --no-fund
elif ! ls native/addon/*.node >/dev/null 2>&1; then
  npm run build:native
fi
npx tsc -b

command -v etcd >/dev/null || { echo "test: etcd is required (apt-get install etcd-server)" >&2; exit 1; }
command -v promtool >/dev/null || { echo "test: promtool is required (apt-get install prometheus)" >&2; exit 1; }
command -v amtool >/dev/null || { echo "test: amtool is required (apt-get install prometheus-alertmanager)" >&2; exit 1; }

echo "== 1/8 lint (eslint, prettier, cargo fmt, clippy)"
npm run lint

echo "== 2/8 cargo test --workspace --release"
cargo test --workspace --release

echo "== 3/8 addon tests"
npm run test:addon

echo "== 4/8 bitcoin library tests"
npm test --workspace @tw/bitcoin

echo "== 5/8 regtest chain tests"
npm test --workspace @tw/regtest

echo "== 6/8 node service tests"
npm test --workspace @tw/node

echo "== 7/8 cli tests"
npm test --workspace @tw/cli

echo "== 8/8 ops checks (compose, monitoring, entrypoint)"
node --test test/ops/
