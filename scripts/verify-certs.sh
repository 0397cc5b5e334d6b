#!/usr/bin/env bash
# Verifies the cluster CA and every node certificate in a directory (threshold-wallet certs verify):
# CA signature, node id, validity; warns about certificates expiring within 30 days.
#
#   scripts/verify-certs.sh [dir] [extra flags...]
#
#   dir  directory holding ca.crt and node-<id>.crt (default: ./certs)
#   extra flags go to the CLI as is, e.g. --warn-days 60, --ca /path/ca.crt, --json.
# Exits with the CLI's status: 0 all valid, 1 (CERTS_INVALID) if any certificate is invalid.
set -euo pipefail
dir="${1:-certs}"
shift $(( $# < 1 ? $# : 1 ))
exec node "$(dirname "$0")/../apps/cli/bin/run.js" certs verify --dir "$dir" "$@"
