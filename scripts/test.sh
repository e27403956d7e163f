#!/usr/bin/env bash
# The project's test command (also what CI runs): servers, install, build, typecheck, lint, unit tests,
# integration tests and, when present, the deploy check. Later steps still run after a failure where
# that makes sense, so the closing summary is complete. The last line printed is
#   N passed, N failed
# counting vitest tests across all runs, plus 1 failed for each failing non-test step. Exit status is
# non-zero if anything failed. Vitest JSON reports are kept in a directory under $TMPDIR (printed at the end).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1

UNIT_WORKSPACES=(shared services/ingest services/gateway)
INTEGRATION_WORKSPACE=test/integration

passed=0
failed=0
STEPS=()
# Outside the repo (biome would lint JSON files inside it); one directory per checkout, emptied each run.
REPORTS="${TMPDIR:-/tmp}/sluice-test-reports-$(printf '%s' "$ROOT" | md5sum | cut -c1-10)"
rm -rf "$REPORTS" && mkdir -p "$REPORTS" || exit 1

now_us() { echo "${EPOCHREALTIME/./}"; }
fmt_secs() { printf '%d.%ds' $(($1 / 1000000)) $(($1 % 1000000 / 100000)); }
record() { STEPS+=("$(printf '%-24s %-8s %8s  %s' "$1" "$2" "$3" "${4:-}")"); }

# run_step NAME COMMAND...: run COMMAND, print its name, result and duration; returns its exit status.
STEP_RC=0
STEP_TIME=0
run_step() {
  local name="$1" start
  shift
  echo
  echo "==> [$name] $*"
  start="$(now_us)"
  "$@"
  STEP_RC=$?
  STEP_TIME="$(fmt_secs $(($(now_us) - start)))"
  if [ "$STEP_RC" -eq 0 ]; then
    echo "<== [$name] ok ($STEP_TIME)"
  else
    echo "<== [$name] FAILED (exit $STEP_RC, $STEP_TIME)"
  fi
  return "$STEP_RC"
}

# A non-test step: counts as 1 failed if it fails.
plain_step() {
  local name="$1"
  if run_step "$@"; then
    record "$name" ok "$STEP_TIME"
    return 0
  fi
  failed=$((failed + 1))
  record "$name" FAILED "$STEP_TIME" "exit $STEP_RC, counted as 1 failed"
  return 1
}

skip_step() { # NAME REASON: a step that could not run counts as 1 failed
  echo
  echo "==> [$1] not run: $2 (counted as 1 failed)"
  failed=$((failed + 1))
  record "$1" "NOT RUN" "-" "$2, counted as 1 failed"
}

summary() {
  echo
  echo "==> steps"
  printf '  %s\n' "${STEPS[@]}"
  echo "vitest JSON reports: $REPORTS"
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}

# vitest_step NAME WORKSPACE_DIR: run the workspace's `test` script (vitest) with an extra JSON reporter,
# then add its test counts to the totals.
vitest_step() {
  local name="$1" ws="$2" report counts p f note=""
  report="$REPORTS/${name//[^A-Za-z0-9_-]/_}.json"
  rm -f "$report"
  run_step "$name" npm run test --workspace "$ws" -- --reporter=default --reporter=json "--outputFile=$report"
  if [ -s "$report" ] && counts="$(node -e '
      const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      const n = (v) => (Number.isInteger(v) ? v : 0);
      console.log(n(r.numPassedTests), n(r.numFailedTests));
    ' "$report" 2>/dev/null)"; then
    read -r p f <<<"$counts"
  elif [ "$STEP_RC" -eq 0 ]; then
    p=0 f=0 note="no JSON report"
  else
    p=0 f=1 note="no JSON report, counted as 1 failed"
  fi
  if [ "$STEP_RC" -ne 0 ] && [ "$f" -eq 0 ]; then
    # e.g. a test file that fails to load, an unhandled error, or no test files found
    f=1
    note="vitest exited $STEP_RC with no failed test, counted as 1 failed"
  fi
  passed=$((passed + p))
  failed=$((failed + f))
  echo "    [$name] $p passed, $f failed${note:+ ($note)}"
  local status=ok
  [ "$STEP_RC" -eq 0 ] && [ "$f" -eq 0 ] || status=FAILED
  record "$name" "$status" "$STEP_TIME" "$p passed, $f failed${note:+; $note}"
  [ "$status" = ok ]
}

need_npm_ci() {
  [ -d node_modules ] || return 0
  [ -f node_modules/.package-lock.json ] || return 0
  [ package-lock.json -nt node_modules/.package-lock.json ]
}

# ---------------------------------------------------------------- steps
# shellcheck disable=SC1091,SC2317
use_node() { source "$ROOT/scripts/use-node.sh" && echo "node $(node -v), npm $(npm -v)"; }
if ! plain_step node use_node; then
  summary
fi

services_ok=1
plain_step services bash "$ROOT/scripts/services.sh" up || services_ok=0
if [ -f "$ROOT/.run/env" ]; then
  # shellcheck disable=SC1091
  source "$ROOT/.run/env"
fi

if need_npm_ci; then
  plain_step "npm ci" npm ci --no-audit --no-fund || summary # nothing below can work without it
else
  echo
  echo "==> [npm ci] skipped: node_modules is up to date with package-lock.json"
  record "npm ci" skipped "-"
fi

build_ok=1
plain_step build npx turbo run build || build_ok=0
plain_step typecheck npx turbo run typecheck
plain_step lint npx biome check .

for ws in "${UNIT_WORKSPACES[@]}"; do
  if [ -f "$ws/package.json" ] && grep -q '"test"[[:space:]]*:' "$ws/package.json"; then
    vitest_step "unit:$ws" "$ws"
  else
    skip_step "unit:$ws" "$ws/package.json has no test script"
  fi
done

if [ "$build_ok" -ne 1 ]; then
  skip_step integration "the build failed"
elif [ "$services_ok" -ne 1 ]; then
  skip_step integration "the local servers did not start"
else
  vitest_step integration "$INTEGRATION_WORKSPACE"
fi

if [ -f deploy/check.sh ]; then
  if [ -x deploy/check.sh ]; then
    plain_step deploy-check deploy/check.sh
  else
    echo
    echo "==> [deploy-check] skipped: deploy/check.sh is not executable"
    record deploy-check skipped "-" "deploy/check.sh is not executable"
  fi
fi

# Smoke runs that keep the benchmark and the image build from rotting (correctness only, no
# timing assertions): the bench smoke scenario, and the Dockerfile's steps in a scratch dir.
for smoke in bench/smoke.sh deploy/image-smoke.sh; do
  name="smoke:$(dirname "$smoke")"
  if [ ! -x "$smoke" ]; then
    continue
  elif [ "$build_ok" -ne 1 ] || [ "$services_ok" -ne 1 ]; then
    skip_step "$name" "the build or the local servers failed"
  else
    plain_step "$name" "$smoke"
  fi
done

summary
