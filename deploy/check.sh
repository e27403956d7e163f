#!/usr/bin/env bash
# Offline checks of Sluice's deployment files: Helm chart, compose file, docs in sync.
#
#   deploy/check.sh            (run from anywhere; exits non-zero when a check fails)
#
# 1. tools   helm (PATH, .tools/bin, or built from the Go module proxy into .tools/bin once),
#            kstrict (deploy/k8s/kstrict, built with Go into .tools/bin, rebuilt when its source
#            changes), npm packages of deploy/package.json (npm ci --prefix deploy, when the lock changed)
# 2. chart   for each values set: helm lint --strict, helm template, then every rendered object
#            against the Kubernetes schemas (validate-manifests.mjs: kubernetes-models + consistency)
#            and strict decoding into the API's Go types (kstrict: unknown fields, wrong types)
# 3. schema  values that must be rejected are rejected (values.schema.json and template guards)
# 4. compose deploy/compose/compose.yaml against the Compose Specification schema (+ references);
#    the Dockerfile against the workspaces and .dockerignore (check-dockerfile.mjs)
# 5. docs    the chart README documents every values.yaml key (check-readme.mjs)
# 6. grafana deploy/grafana/sluice-dashboard.json: structure, and every metric name it queries is
#            exported by services/*/src/metrics.ts or prom-client's defaults (check-dashboard.mjs)
#
# Rendered manifests and logs: .run/deploy-check/.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2
# shellcheck source=../scripts/use-node.sh
source scripts/use-node.sh || exit 2

HELM_VERSION="${SLUICE_HELM_VERSION:-v3.22.0}"
TOOLS="$ROOT/.tools/bin"
OUT="$ROOT/.run/deploy-check"
CHART="deploy/k8s/helm/sluice"
mkdir -p "$TOOLS" "$OUT"
rm -f "$OUT"/*.log "$OUT"/rendered-*.yaml

passed=0
failed=0
skipped=0
summary=()

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

# check NAME COMMAND...: runs COMMAND with its output in a log; prints PASS/FAIL.
check() {
  local name="$1"
  shift
  local log
  log="$OUT/$(printf '%s' "$name" | tr -c 'a-zA-Z0-9._-' '_').log"
  local start
  start="$(now)"
  if "$@" >"$log" 2>&1; then
    passed=$((passed + 1))
    summary+=("PASS  $name")
    printf 'PASS  %-58s %s\n' "$name" "$(elapsed "$start")"
    return 0
  else
    failed=$((failed + 1))
    summary+=("FAIL  $name")
    printf 'FAIL  %-58s %s\n' "$name" "$(elapsed "$start")"
    sed -e 's/^/      | /' "$log" | tail -n 40
    return 1
  fi
}

skip() {
  skipped=$((skipped + 1))
  summary+=("SKIP  $1 ($2)")
  printf 'SKIP  %-58s %s\n' "$1" "$2"
}

# ---- 1. tools -------------------------------------------------------------------------------
# Built tools are kept in .tools/bin (git-ignored) and in a per-user cache that survives fresh
# clones on the same machine (CI clones afresh each run).
CACHE="${SLUICE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice-tools}"
mkdir -p "$CACHE" 2>/dev/null || CACHE="$TOOLS"

HELM=""
helm_version_of() { "$1" version --template '{{ .Version }}' 2>/dev/null; }
if [ -x "$TOOLS/helm" ] && [ "$(helm_version_of "$TOOLS/helm")" = "$HELM_VERSION" ]; then
  HELM="$TOOLS/helm"
elif [ -x "$CACHE/helm-$HELM_VERSION" ]; then
  cp "$CACHE/helm-$HELM_VERSION" "$TOOLS/helm" && HELM="$TOOLS/helm"
elif command -v helm >/dev/null 2>&1 && helm_version_of "$(command -v helm)" | grep -q '^v3\.'; then
  HELM="$(command -v helm)"
fi

build_helm() {
  command -v go >/dev/null 2>&1 || { echo "helm is not installed and Go is not available to build it"; return 1; }
  local dir k8s minor
  # Version metadata as helm's Makefile sets it: the helm version, and the Kubernetes version
  # `helm template` assumes (from the client-go it is built with).
  dir="$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')" || return 1
  k8s="$(sed -n 's/^[[:space:]]*k8s.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$dir/go.mod" | head -n 1)"
  minor="${k8s:-30}"
  local flags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  flags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for pkg in pkg/lint/rules pkg/chartutil; do
    flags+=" -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=$minor"
  done
  GOBIN="$TOOLS" CGO_ENABLED=0 go install -trimpath -ldflags "$flags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" &&
    cp "$TOOLS/helm" "$CACHE/helm-$HELM_VERSION"
}

if [ -z "$HELM" ]; then
  echo "helm: not found; building $HELM_VERSION from the Go module proxy into .tools/bin (once)"
  check "tools: build helm $HELM_VERSION (go install)" build_helm
  [ -x "$TOOLS/helm" ] && HELM="$TOOLS/helm"
fi
if [ -n "$HELM" ]; then
  echo "helm: $HELM ($(helm_version_of "$HELM"))"
fi

KSTRICT=""
build_kstrict() {
  (cd deploy/k8s/kstrict && CGO_ENABLED=0 go build -trimpath -o "$TOOLS/kstrict" .) &&
    cp "$TOOLS/kstrict" "$CACHE/kstrict-$1" && echo "$1" >"$TOOLS/kstrict.src-sha"
}
kstrict_sha="$(cat deploy/k8s/kstrict/go.mod deploy/k8s/kstrict/go.sum deploy/k8s/kstrict/*.go | sha256sum | cut -c1-16)"
if [ -x "$TOOLS/kstrict" ] && [ "$(cat "$TOOLS/kstrict.src-sha" 2>/dev/null)" = "$kstrict_sha" ]; then
  KSTRICT="$TOOLS/kstrict"
elif [ -x "$CACHE/kstrict-$kstrict_sha" ]; then
  cp "$CACHE/kstrict-$kstrict_sha" "$TOOLS/kstrict" && echo "$kstrict_sha" >"$TOOLS/kstrict.src-sha" && KSTRICT="$TOOLS/kstrict"
elif command -v go >/dev/null 2>&1; then
  check "tools: build kstrict (strict Kubernetes decoding)" build_kstrict "$kstrict_sha"
  [ -x "$TOOLS/kstrict" ] && KSTRICT="$TOOLS/kstrict"
fi

install_deploy_deps() {
  local sha
  sha="$(sha256sum deploy/package-lock.json | cut -c1-16)"
  if [ "$(cat deploy/node_modules/.sluice-lock-sha 2>/dev/null)" = "$sha" ]; then
    echo "deploy/node_modules is up to date"
    return 0
  fi
  npm ci --prefix deploy --no-audit --no-fund --loglevel=error && echo "$sha" >deploy/node_modules/.sluice-lock-sha
}
check "tools: npm ci --prefix deploy" install_deploy_deps

# ---- 2. chart --------------------------------------------------------------------------------
# name | values file (empty: defaults) | extra helm flags
VALUE_SETS=(
  "default||"
  "digitalocean|$CHART/values-digitalocean.yaml|"
  "existing-secret|$CHART/values-existing-secret.yaml|"
  "ci-ingress|$CHART/ci/ingress-values.yaml|--api-versions monitoring.coreos.com/v1/ServiceMonitor"
  "ci-httproute|$CHART/ci/httproute-values.yaml|"
)

render() {
  local out="$1"
  shift
  "$HELM" template sluice "$CHART" --namespace mastodon "$@" >"$out"
}

if [ -z "$HELM" ]; then
  failed=$((failed + 1))
  summary+=("FAIL  chart checks (no helm)")
  echo "FAIL  chart checks: helm is not available"
else
  for set in "${VALUE_SETS[@]}"; do
    IFS='|' read -r name file extra <<<"$set"
    args=()
    [ -n "$file" ] && args+=(-f "$file")
    # shellcheck disable=SC2206
    [ -n "$extra" ] && args+=($extra)
    rendered="$OUT/rendered-$name.yaml"
    lint_args=()
    [ -n "$file" ] && lint_args+=(-f "$file")
    check "chart[$name]: helm lint --strict" "$HELM" lint --strict "$CHART" "${lint_args[@]}"
    if check "chart[$name]: helm template" render "$rendered" "${args[@]}"; then
      check "chart[$name]: Kubernetes schemas + consistency" node deploy/k8s/validate-manifests.mjs "$rendered"
      if [ -n "$KSTRICT" ]; then
        check "chart[$name]: strict decoding (unknown fields)" "$KSTRICT" "$rendered"
      else
        skip "chart[$name]: strict decoding (unknown fields)" "no Go to build kstrict"
      fi
    fi
  done

  # ---- 3. bad values are rejected ------------------------------------------------------------
  must_reject() {
    local failures=0 expression
    if ! "$HELM" template sluice "$CHART" >/dev/null 2>&1; then
      echo "the chart does not render with its default values: rejection cannot be tested"
      return 1
    fi
    for expression in "$@"; do
      if "$HELM" template sluice "$CHART" --set "$expression" >/dev/null 2>"$OUT/reject.err"; then
        echo "ACCEPTED (should be rejected): --set $expression"
        failures=$((failures + 1))
      else
        echo "rejected: --set $expression -> $(grep -E '^Error: execution error|^ *- at ' "$OUT/reject.err" | tail -n 1 | sed 's/^ *//')"
      fi
    done
    return "$failures"
  }
  check "chart: bad values are rejected" must_reject \
    'env.REDIS_HOTS=typo' \
    'env.PORT=5000' \
    'env.DB_SSLMODE=maybe' \
    'env.LOG_LEVEL=verbose' \
    'env.SLUICE_GAP_REPAIR_MAX_EVENTS=2000000' \
    'env.SLUICE_GAP_REPAIR_MAX_EVENTS=-1' \
    'secrets.env.SECRET_KEY_BASE=x' \
    'gateway.replicaCount=two' \
    'gateway.drainSeconds=-1' \
    'gateway.pdb.maxUnavailable=0' \
    'gateway.maxSurge=0' \
    'gateway.service.type=External' \
    'gateway.autoscaling.minReplicas=20' \
    'gateway.autoscaling.targetCPUUtilizationPercentage=0' \
    'image.pullPolicy=Sometimes' \
    'image.repository=' \
    'nats.url=' \
    'nats.url=http://nats:4222' \
    'ingress.enabled=true' \
    'httpRoute.enabled=true' \
    'serviceMonitor.interval=often' \
    'unknownTopLevelKey=1'
fi

check_nats_values() {
  node --input-type=module -e "
    import { readFileSync } from 'node:fs';
    import { createRequire } from 'node:module';
    const { parse } = createRequire('$ROOT/deploy/package.json')('yaml');
    const v = parse(readFileSync('deploy/k8s/nats-values.yaml', 'utf8'));
    const want = [
      ['config.cluster.enabled', true], ['config.cluster.replicas', 3], ['config.jetstream.enabled', true],
      ['config.jetstream.memoryStore.enabled', true], ['podDisruptionBudget.enabled', true],
    ];
    let bad = 0;
    for (const [path, expected] of want) {
      const got = path.split('.').reduce((o, k) => o?.[k], v);
      if (got !== expected) { console.log(path, '=', got, 'expected', expected); bad++; }
    }
    if (!v.config?.jetstream?.memoryStore?.maxSize) { console.log('config.jetstream.memoryStore.maxSize missing'); bad++; }
    process.exit(bad ? 1 : 0);
  "
}
check "nats: deploy/k8s/nats-values.yaml (JetStream, 3 replicas, memory store, PDB)" check_nats_values

# ---- 4. compose and image -------------------------------------------------------------------
check "compose: compose.yaml vs Compose Specification" node deploy/compose/validate-compose.mjs
check "image: Dockerfile matches the workspaces and .dockerignore" node deploy/check-dockerfile.mjs

# ---- 5. docs ---------------------------------------------------------------------------------
check "docs: chart README documents every values.yaml key" node deploy/k8s/check-readme.mjs

# ---- 6. Grafana dashboard -------------------------------------------------------------------
check "grafana: dashboard queries only metrics the code exports" node deploy/grafana/check-dashboard.mjs

echo
echo "Logs and rendered manifests: .run/deploy-check/"
for line in "${summary[@]}"; do
  case "$line" in PASS*) ;; *) echo "  $line" ;; esac
done
if [ "$skipped" -gt 0 ]; then
  echo "deploy-check: $passed passed, $failed failed, $skipped skipped"
else
  echo "deploy-check: $passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
