#!/usr/bin/env bash
# Renews one node's certificate and key from the cluster CA (threshold-wallet certs renew); a
# running node picks the new files up within TW_CERT_RELOAD_INTERVAL_S, without a restart.
#
#   scripts/renew-certs.sh <node-id> [dir] [ca-key] [extra flags...]
#
#   node-id  the node whose certificate to renew
#   dir      directory holding ca.crt and node-<id>.crt / .key (default: ./certs)
#   ca-key   the cluster CA private key (default: <dir>/ca.key; it may live on an offline host)
#   extra flags go to the CLI as is, e.g. --days 730, --json.
# Exits with the CLI's status.
set -euo pipefail
if [[ $# -lt 1 || -z "$1" ]]; then
  echo "usage: $0 <node-id> [dir] [ca-key] [extra flags...]" >&2
  exit 2
fi
node_id="$1"
dir="${2:-certs}"
ca_key="${3:-}"
shift $(( $# < 3 ? $# : 3 ))
args=(certs renew --node "$node_id" --dir "$dir")
if [[ -n "$ca_key" ]]; then args+=(--ca-key "$ca_key"); fi
exec node "$(dirname "$0")/../apps/cli/bin/run.js" "${args[@]}" "$@"
