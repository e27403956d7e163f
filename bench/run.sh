#!/usr/bin/env bash
# Runs one benchmark scenario: `bash bench/run.sh <scenario> [options]` (bench/README.md).
# Node 24 via scripts/use-node.sh, the open-files limit raised to the hard limit, then
# `node bench/dist/run.js "$@"`. Builds nothing: run `npm run build` first. Server URLs come from
# the environment, else from .run/env (scripts/services.sh up).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
source "$ROOT/scripts/use-node.sh"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec node "$ROOT/bench/dist/run.js" "$@"
