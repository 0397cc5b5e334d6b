#!/usr/bin/env bash
# Generates a cluster CA and one certificate per node (threshold-wallet certs generate).
#
#   scripts/generate-certs.sh [dir] [nodes] [extra flags...]
#
#   dir    where ca.crt and node-<id>.crt / node-<id>.key go (default: ./certs)
#   nodes  number of nodes, ids 1..N (default: 5)
#   extra flags go to the CLI as is, e.g. --ca-key-dir /secure/ca (keep the CA key offline),
#   --days 730, --force, --json.
# Exits with the CLI's status.
set -euo pipefail
dir="${1:-certs}"
nodes="${2:-5}"
shift $(( $# < 2 ? $# : 2 ))
exec node "$(dirname "$0")/../apps/cli/bin/run.js" certs generate --out "$dir" --nodes "$nodes" "$@"
