#!/usr/bin/env bash
# CI smoke run of the load generator (seconds): 50 clients over every transport and stream,
# 5 statuses/s for 3 s, against a real ingest and gateway that it starts itself.
# Builds nothing (run `npm run build` first); needs the local servers (scripts/services.sh up).
# Exit status: 0 when the generator ran and no event was lost; non-zero when the generator failed
# (1) or events were lost (2), clients that could not connect counting as losing theirs.
# A correctness check only: timings are printed, never asserted.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
source "$ROOT/scripts/use-node.sh" || exit 1
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
for f in bench/dist/run.js services/ingest/dist/main.js services/gateway/dist/main.js; do
  if [ ! -f "$ROOT/$f" ]; then
    echo "smoke: $f is missing; build first (npm run build)" >&2
    exit 1
  fi
done
OUT="$ROOT/bench/results/tmp"
mkdir -p "$OUT" || exit 1
node "$ROOT/bench/dist/run.js" smoke --check-lost --out "$OUT" "$@" >"$OUT/smoke-last.json.tmp"
rc=$?
# stdout: the JSON line, then the human line; keep the JSON, show the human line.
if [ -s "$OUT/smoke-last.json.tmp" ]; then
  head -n 1 "$OUT/smoke-last.json.tmp" >"$OUT/smoke-last.json"
  tail -n 1 "$OUT/smoke-last.json.tmp"
fi
rm -f "$OUT/smoke-last.json.tmp"
case "$rc" in
  0) echo "smoke: ok" ;;
  2) echo "smoke: FAILED: events were lost (details: $OUT/smoke-last.json)" >&2 ;;
  *) echo "smoke: FAILED: the load generator exited with $rc" >&2 ;;
esac
exit "$rc"
