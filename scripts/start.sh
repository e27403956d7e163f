#!/usr/bin/env bash
# The project's start command: local Redis/PostgreSQL/NATS, install, build, then run ingest and gateway
# in the foreground (Ctrl-C stops both). Server URLs come from .run/env unless already set in the
# environment; NODE_ENV defaults to development.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# shellcheck disable=SC1091
source scripts/use-node.sh

# Remember URLs the caller set explicitly, so .run/env does not override them.
declare -A preset=()
for v in REDIS_URL DATABASE_URL NATS_URL NATS_MONITOR_URL; do
  if [ -n "${!v:-}" ]; then preset[$v]="${!v}"; fi
done

bash scripts/services.sh up || { echo "start: FAILED: local servers (scripts/services.sh up)" >&2; exit 1; }

if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] ||
  [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "start: running npm ci"
  npm ci --no-audit --no-fund || { echo "start: FAILED: npm ci" >&2; exit 1; }
fi

npx turbo run build || { echo "start: FAILED: build (npx turbo run build)" >&2; exit 1; }

# shellcheck disable=SC1091
source .run/env
for v in "${!preset[@]}"; do
  export "$v=${preset[$v]}"
done
export NODE_ENV="${NODE_ENV:-development}"

echo "start: REDIS_URL=$REDIS_URL DATABASE_URL=$DATABASE_URL NATS_URL=$NATS_URL NODE_ENV=$NODE_ENV"
exec node scripts/start-local.mjs
