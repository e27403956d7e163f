#!/usr/bin/env bash
# Image smoke test without a Docker engine: builds what the Dockerfile builds, in scratch
# directories, starts both entrypoints from the image's layout against the local servers, and proves
# that a client receives an event through them.
#
#   deploy/image-smoke.sh          (run from anywhere; needs the local servers: scripts/services.sh up)
#
# 1. context   the Docker build context: the working tree's files (git ls-files: tracked and
#              untracked-but-not-ignored) minus .dockerignore, copied to a scratch directory
# 2. stages    the Dockerfile is interpreted stage by stage, each stage in its own scratch root:
#              WORKDIR, ENV, COPY (from the context or --from=<stage>) and RUN (npm ci, turbo build,
#              the production-only npm ci) run as written; RUN apt-get (tini) is skipped, there is
#              no container. The Node.js is this machine's Node 24 (scripts/use-node.sh), not the
#              image's NODE_IMAGE.
# 3. layout    the runtime stage holds both entrypoints, production dependencies only, no sources
# 4. run       `node services/ingest/dist/main.js` and the CMD (gateway) start from the runtime
#              root with the image's ENV, a unique SLUICE_SUBJECT_PREFIX / SLUICE_STREAM_NAME and
#              free ports; ingest /health and gateway /readyz answer 200
# 5. event     a user and token in PostgreSQL, an SSE client on /api/v1/streaming/public/local
#              with `Authorization: Bearer`, PUBLISH {"event":"update",…} on timeline:public:local:
#              the client receives `event: update` with the payload
# 6. stop      SIGTERM: both processes exit 0 (the drain runs); rows, stream and scratch removed
#
# Exits non-zero with a message naming the step that failed. Logs: .run/image-smoke/.
# SLUICE_SMOKE_KEEP=1 keeps the scratch directory (its path is printed).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2
# shellcheck source=../scripts/use-node.sh
source scripts/use-node.sh || exit 2

LOGS="$ROOT/.run/image-smoke"
mkdir -p "$LOGS" && rm -f "$LOGS"/*.log
WORK="$(mktemp -d "${TMPDIR:-/tmp}/sluice-image-smoke.XXXXXX")" || exit 2
CONTEXT="$WORK/context"
STAGES="$WORK/stages"
mkdir -p "$CONTEXT" "$STAGES"
T0="$(date +%s.%N)"
ID="$(od -An -N5 -tx1 /dev/urandom | tr -d ' \n')"
PREFIX="smoke$ID"
STREAM="SMOKE${ID^^}"
export STREAM
PIDS=()
APP=""

# alive PID: running (a zombie, exited but not yet reaped, is not).
alive() {
  local st
  st="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  st="${st##*) }"
  [ "${st%% *}" != Z ]
}
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1fs", b - a }'; }
step() { printf '\n==> %s  (+%s)\n' "$*" "$(elapsed "$T0")"; }
fail() {
  echo "image-smoke: FAILED: $*" >&2
  exit 1
}

# ---- clean-up: processes we started (by pid), the test's stream, scratch directories ----------
cleanup() {
  local rc=$? pid
  for pid in "${PIDS[@]}"; do
    alive "$pid" && kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  if [ "${#PIDS[@]}" -gt 0 ] && [ -f "$WORK/client/smoke.mjs" ]; then
    (cd "$WORK/client" && timeout 20 node smoke.mjs delete-stream) >>"$LOGS/cleanup.log" 2>&1 ||
      echo "image-smoke: could not delete stream $STREAM (see $LOGS/cleanup.log)" >&2
  fi
  if [ "${SLUICE_SMOKE_KEEP:-0}" = 1 ]; then
    echo "image-smoke: scratch kept in $WORK"
  else
    rm -rf "$WORK"
  fi
  if [ "$rc" -eq 0 ]; then
    echo "image-smoke: PASSED in $(elapsed "$T0")"
  else
    echo "image-smoke: FAILED after $(elapsed "$T0") (logs: ${LOGS#"$ROOT"/}/)" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- servers ---------------------------------------------------------------------------------
if [ -z "${REDIS_URL:-}" ] || [ -z "${DATABASE_URL:-}" ] || [ -z "${NATS_URL:-}" ]; then
  # shellcheck disable=SC1091
  [ -f .run/env ] && source .run/env
fi
for v in REDIS_URL DATABASE_URL NATS_URL; do
  [ -n "${!v:-}" ] || fail "$v is not set and .run/env does not set it: start the local servers (scripts/services.sh up)"
done

# ---- 1. build context ------------------------------------------------------------------------
step "1. build context (git ls-files minus .dockerignore) -> $CONTEXT"
list_context() {
  if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$ROOT" ls-files -z --cached --others --exclude-standard
  else
    (cd "$ROOT" && find . -path ./node_modules -prune -o -path ./.git -prune -o -type f -printf '%P\0')
  fi
}
# .dockerignore semantics as deploy/check-dockerfile.mjs implements them (patterns from the root, **).
# shellcheck disable=SC2016 # JavaScript, not shell
list_context | node -e '
  const fs = require("node:fs");
  const ignore = fs.readFileSync(".dockerignore", "utf8").split("\n").map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  const re = (p) => new RegExp("^" + p.replace(/^\//, "").replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*\*\//g, "\0").replace(/\*\*/g, ".*").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]")
    .replace(/\0/g, "(.*/)?") + "(/.*)?$");
  const res = ignore.map(re);
  const files = fs.readFileSync(0, "utf8").split("\0").filter(Boolean);
  const kept = files.filter((f) => fs.existsSync(f) && !res.some((r) => r.test(f)));
  process.stdout.write(kept.join("\0"));
  process.stderr.write(`${kept.length} of ${files.length} files in the build context\n`);
' >"$WORK/context.list" || fail "listing the build context"
tar -C "$ROOT" --null -T "$WORK/context.list" -cf - | tar -C "$CONTEXT" -xf - || fail "copying the build context"

# ---- 2. Dockerfile stages --------------------------------------------------------------------
# Instructions with line continuations joined, comments and blank lines dropped.
mapfile -t INSTR < <(sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' Dockerfile | sed -e 's/^[[:space:]]*//' | grep -v -e '^#' -e '^$')
[ "${#INSTR[@]}" -gt 0 ] || fail "Dockerfile has no instructions"

stage="" stage_root="" workdir="/" last_stage=""
declare -A STAGE_ROOT=()
stage_env=()
runtime_cmd=()

# copy_into SRC DST: Docker COPY for one source (a directory's contents, or a file into DST).
copy_into() {
  local src="$1" dst="$2"
  [ -e "$src" ] || fail "Dockerfile stage $stage: COPY source ${src#"$WORK"/} does not exist"
  if [ -d "$src" ]; then
    mkdir -p "$dst" && cp -a "$src/." "$dst/"
  elif [[ "$dst" == */ ]] || [ -d "$dst" ]; then
    mkdir -p "$dst" && cp -a "$src" "$dst/"
  else
    mkdir -p "$(dirname "$dst")" && cp -a "$src" "$dst"
  fi
}

abs_in_stage() { # PATH (absolute or relative to WORKDIR) -> path under the stage root
  local p="$1"
  if [[ "$p" == /* ]]; then printf '%s%s' "$stage_root" "$p"; else printf '%s%s/%s' "$stage_root" "${workdir%/}" "${p#./}"; fi
}

for line in "${INSTR[@]}"; do
  kw="${line%%[[:space:]]*}"
  rest="${line#"$kw"}"
  rest="${rest#"${rest%%[![:space:]]*}"}"
  case "${kw^^}" in
  FROM)
    read -ra w <<<"$rest"
    stage="${w[0]}"
    [ "${#w[@]}" -ge 3 ] && [ "${w[1],,}" = as ] && stage="${w[2]}"
    stage_root="$STAGES/$stage"
    STAGE_ROOT[$stage]="$stage_root"
    mkdir -p "$stage_root"
    workdir="/"
    stage_env=()
    last_stage="$stage"
    step "2. stage $stage"
    ;;
  WORKDIR)
    workdir="$rest"
    mkdir -p "$stage_root$workdir"
    ;;
  ENV)
    read -ra w <<<"$rest"
    if [[ "${w[0]}" == *=* ]]; then
      for kv in "${w[@]}"; do
        v="${kv#*=}" && v="${v%\"}" && v="${v#\"}"
        stage_env+=("${kv%%=*}=$v")
      done
    else
      stage_env+=("${w[0]}=${w[*]:1}")
    fi
    ;;
  COPY | ADD)
    read -ra w <<<"$rest"
    from=""
    args=()
    for x in "${w[@]}"; do
      case "$x" in
      --from=*) from="${x#--from=}" ;;
      --*) ;;
      *) args+=("$x") ;;
      esac
    done
    [ "${#args[@]}" -ge 2 ] || fail "Dockerfile: cannot read '$line'"
    dst="$(abs_in_stage "${args[-1]}")"
    [[ "${args[-1]}" == */ ]] && dst="$dst/"
    [ "${#args[@]}" -gt 2 ] && dst="${dst%/}/"
    for src in "${args[@]:0:${#args[@]}-1}"; do
      if [ -n "$from" ]; then
        [ -n "${STAGE_ROOT[$from]:-}" ] || fail "Dockerfile: COPY --from=$from is not an earlier stage (images are not supported here)"
        copy_into "${STAGE_ROOT[$from]}/${src#/}" "$dst"
      else
        copy_into "$CONTEXT/${src#./}" "$dst"
      fi
    done
    echo "    COPY ${from:+--from=$from }${args[*]}"
    ;;
  RUN)
    cmd="$(printf '%s' "$rest" | sed -E 's/--mount=[^ ]+ +//g; s/--network=[^ ]+ +//g')"
    if [[ "$cmd" == apt-get* ]]; then
      echo "    RUN $cmd  -- skipped: system packages (tini) belong to the container, not the smoke test"
      continue
    fi
    log="$LOGS/$stage-$(printf '%s' "$cmd" | tr -c 'a-zA-Z0-9' '_' | cut -c1-40).log"
    s="$(date +%s.%N)"
    echo "    RUN $cmd"
    # A clean environment like a build container's: the stage's ENV, PATH (Node 24) and HOME (npm cache).
    if ! (cd "$stage_root$workdir" && env -i PATH="$PATH" HOME="$HOME" NPM_CONFIG_PREFER_OFFLINE=true \
      "${stage_env[@]}" timeout 600 bash -c "$cmd") >"$log" 2>&1; then
      tail -n 30 "$log" | sed 's/^/      | /'
      fail "Dockerfile stage $stage: RUN $cmd (log: ${log#"$ROOT"/})"
    fi
    echo "        ok ($(elapsed "$s"))"
    ;;
  CMD)
    # JSON form: ["node", "services/gateway/dist/main.js"]
    mapfile -t runtime_cmd < <(node -e 'for (const a of JSON.parse(process.argv[1])) console.log(a)' "$rest") ||
      fail "Dockerfile: CMD is not in JSON form: $rest"
    ;;
  *) ;; # ARG, LABEL, USER, EXPOSE, STOPSIGNAL, ENTRYPOINT (tini), HEALTHCHECK: nothing to do here
  esac
done
RUNTIME_ENV=("${stage_env[@]}")
APP="${STAGE_ROOT[$last_stage]}${workdir}"
[ "${#runtime_cmd[@]}" -ge 2 ] || fail "Dockerfile: the runtime stage has no CMD"

# ---- 3. runtime layout -----------------------------------------------------------------------
step "3. runtime layout ($last_stage stage, WORKDIR $workdir): $(du -sh "$APP" | cut -f1)"
# CMD is ["node", <node flags…>, <script>]: the script is the last element.
GATEWAY_MAIN="${runtime_cmd[${#runtime_cmd[@]}-1]}"
INGEST_MAIN="services/ingest/dist/main.js"
for f in "$GATEWAY_MAIN" "$INGEST_MAIN"; do
  [ -f "$APP/$f" ] || fail "the image has no $f"
done
leaked=()
for dev in typescript vitest turbo @biomejs/biome @types/node testcontainers fast-check; do
  [ -e "$APP/node_modules/$dev" ] && leaked+=("$dev")
done
[ "${#leaked[@]}" -eq 0 ] || fail "development dependencies in the image's node_modules: ${leaked[*]}"
sources="$(find "$APP" -path "$APP/node_modules" -prune -o -name '*.ts' ! -name '*.d.ts' -print | head -n 5)"
[ -z "$sources" ] || fail "TypeScript sources in the image: $sources"
echo "    entrypoints: $GATEWAY_MAIN (CMD), $INGEST_MAIN; no dev dependencies, no sources"

# The client of step 5 (and the stream clean-up) use the image's own node_modules: pg, ioredis
# and the NATS client must be there anyway.
mkdir -p "$WORK/client"
ln -s "$APP/node_modules" "$WORK/client/node_modules"
cat >"$WORK/client/smoke.mjs" <<'EOF'
// One user and token, an SSE client, Rails-like publishes; or `delete-stream` for clean-up.
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';

const env = process.env;
if (process.argv[2] === 'delete-stream') {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: env.NATS_URL.split(','), timeout: 5000 });
  try {
    const jsm = await jetstreamManager(nc);
    // Ingest creates the conduit and its replay stream (shared/src/stream.ts).
    for (const name of [env.STREAM, `${env.STREAM}_REPLAY`]) {
      await jsm.streams.delete(name).then(
        () => console.log(`deleted stream ${name}`),
        (err) => {
          if (!/not found/i.test(String(err?.message))) throw err;
        },
      );
    }
  } finally {
    await nc.close();
  }
  process.exit(0);
}

const pg = (await import('pg')).default;
const { Redis } = await import('ioredis');
const t0 = Date.now();
const say = (m) => console.log(`    [${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}`);
let seq = Math.floor(Math.random() * 0x8000);
const nextId = () => ((BigInt(Date.now()) << 16n) | BigInt((seq = (seq + 1) & 0xffff))).toString();

const db = new pg.Client({ connectionString: env.DATABASE_URL });
const redis = new Redis(env.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 2 });
redis.on('error', () => {});
const accountId = nextId();
const userId = nextId();
const tokenId = nextId();
const username = `smoke${accountId}`;
let req;
let failure = null;
try {
  await db.connect();
  await db.query('INSERT INTO accounts (id, username, domain) VALUES ($1, $2, NULL)', [accountId, username]);
  await db.query(
    `INSERT INTO users (id, account_id, email, confirmed_at, disabled) VALUES ($1, $2, $3, now(), false)`,
    [userId, accountId, `${username}@example.test`],
  );
  const token = randomBytes(32).toString('base64url');
  await db.query(
    `INSERT INTO oauth_access_tokens (id, token, scopes, resource_owner_id) VALUES ($1, $2, 'read', $3)`,
    [tokenId, token, userId],
  );
  say(`account ${accountId}, user ${userId}, token ${tokenId} (scopes read)`);
  await redis.connect();

  // SSE client: parses events as EventSource does.
  const events = [];
  const waiters = new Set();
  let ended = null;
  await new Promise((resolve, reject) => {
    req = http.request(
      {
        host: '127.0.0.1',
        port: Number(env.GATEWAY_PORT),
        path: '/api/v1/streaming/public/local',
        headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' },
        agent: false,
      },
      (res) => {
        if (res.statusCode !== 200) {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => reject(new Error(`SSE answered ${res.statusCode}: ${body.slice(0, 300)}`)));
          return;
        }
        const type = String(res.headers['content-type'] ?? '');
        if (!type.startsWith('text/event-stream')) reject(new Error(`SSE content-type is ${type}`));
        say(`SSE connected: 200 ${type}`);
        res.setEncoding('utf8');
        let buf = '';
        let ev = { event: '', data: [] };
        res.on('data', (chunk) => {
          buf += chunk;
          let nl = buf.indexOf('\n');
          while (nl >= 0) {
            const line = buf.slice(0, nl).replace(/\r$/, '');
            buf = buf.slice(nl + 1);
            nl = buf.indexOf('\n');
            if (line === '') {
              if (ev.data.length) {
                const e = { event: ev.event || 'message', data: ev.data.join('\n') };
                events.push(e);
                for (const w of waiters) w(e);
              }
              ev = { event: '', data: [] };
            } else if (!line.startsWith(':')) {
              const i = line.indexOf(':');
              const field = i < 0 ? line : line.slice(0, i);
              const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
              if (field === 'event') ev.event = value;
              else if (field === 'data') ev.data.push(value);
            }
          }
        });
        res.on('close', () => {
          ended = 'the stream ended';
          for (const w of waiters) w(null);
        });
        resolve();
      },
    );
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('no response headers within 10 s')));
    req.end();
  });
  req.setTimeout(0);
  const waitFor = (pred, ms) =>
    new Promise((resolve) => {
      const hit = events.find(pred);
      if (hit) return resolve(hit);
      const timer = setTimeout(() => done(null), ms);
      const done = (e) => {
        clearTimeout(timer);
        waiters.delete(w);
        resolve(e);
      };
      const w = (e) => (e === null ? done(null) : pred(e) && done(e));
      waiters.add(w);
    });

  // The subscription reaches NATS asynchronously: Rails-like `delete` probes until one arrives.
  const channel = 'timeline:public:local';
  const probes = new Set();
  const deadline = Date.now() + 15_000;
  for (;;) {
    const id = `probe${nextId()}`;
    probes.add(id);
    await redis.publish(channel, JSON.stringify({ event: 'delete', payload: id }));
    if (await waitFor((e) => e.event === 'delete' && probes.has(e.data), 300)) break;
    if (ended || Date.now() > deadline)
      throw new Error(`no probe reached the client within 15 s (${probes.size} published; ${ended ?? 'stream open'})`);
  }
  say(`subscription live after ${probes.size} probe(s)`);

  const statusId = nextId();
  const payload = {
    id: statusId,
    created_at: new Date().toISOString(),
    in_reply_to_id: null,
    in_reply_to_account_id: null,
    sensitive: false,
    spoiler_text: '',
    visibility: 'public',
    language: 'en',
    uri: `https://smoke.test/users/${username}/statuses/${statusId}`,
    url: `https://smoke.test/@${username}/${statusId}`,
    content: `<p>image smoke ${statusId} — café 🎉</p>`,
    reblog: null,
    account: { id: accountId, username, acct: username, display_name: 'Image smoke', url: `https://smoke.test/@${username}` },
    media_attachments: [],
    mentions: [],
    tags: [],
    emojis: [],
    card: null,
    poll: null,
  };
  const receivers = await redis.publish(channel, JSON.stringify({ event: 'update', payload }));
  say(`PUBLISH ${channel} update ${statusId} (${receivers} Redis subscriber(s))`);
  const got = await waitFor((e) => e.event === 'update' && e.data.includes(statusId), 10_000);
  if (!got) throw new Error(`the client did not receive the update within 10 s (${ended ?? 'stream open'}; ${events.length} events seen)`);
  let data;
  try {
    data = JSON.parse(got.data);
  } catch {
    throw new Error(`event: update arrived, but its data is not JSON: ${got.data.slice(0, 200)}`);
  }
  // Like Mastodon, an authenticated client's `update` carries `filtered` (its keyword filter matches).
  const { filtered, ...rest } = data;
  if (filtered !== undefined && !isDeepStrictEqual(filtered, []))
    throw new Error(`event: update arrived with filtered = ${JSON.stringify(filtered)}, want []`);
  if (!isDeepStrictEqual(rest, payload))
    throw new Error(`event: update arrived with a different payload:\n  sent ${JSON.stringify(payload)}\n  got  ${got.data}`);
  say(`received event: update, data = the published payload${filtered ? ' + filtered: []' : ''} (${got.data.length} bytes)`);
} catch (err) {
  failure = err;
} finally {
  req?.destroy();
  redis.disconnect();
  try {
    await db.query('DELETE FROM oauth_access_tokens WHERE id = $1', [tokenId]);
    await db.query('DELETE FROM users WHERE id = $1', [userId]);
    await db.query('DELETE FROM accounts WHERE id = $1', [accountId]);
    say('rows deleted');
  } catch (err) {
    console.error(`    could not delete the test rows: ${err.message}`);
  }
  await db.end().catch(() => {});
}
if (failure) {
  console.error(`    ${failure.message}`);
  process.exit(1);
}
EOF
export NATS_URL REDIS_URL DATABASE_URL

# ---- 4. start both services ------------------------------------------------------------------
pick_port() {
  node -e '
    const net = require("node:net");
    const tryPort = (n) => {
      if (n === 0) process.exit(1);
      const port = 20000 + Math.floor(Math.random() * 12000);
      const s = net.createServer().once("error", () => tryPort(n - 1));
      s.listen(port, "127.0.0.1", () => s.close(() => console.log(port)));
    };
    tryPort(50);'
}
INGEST_PORT="$(pick_port)" || fail "no free port"
GATEWAY_PORT="$(pick_port)" || fail "no free port"
MROOT="$WORK/mastodon-root"
mkdir -p "$MROOT"
COMMON=(
  PATH="$PATH" HOME="$HOME" "${RUNTIME_ENV[@]}"
  MASTODON_ROOT="$MROOT" NATS_URL="$NATS_URL"
  SLUICE_SUBJECT_PREFIX="$PREFIX" SLUICE_STREAM_NAME="$STREAM"
)

step "4. start ingest (:$INGEST_PORT) and gateway (:$GATEWAY_PORT) from the image layout; prefix $PREFIX, stream $STREAM"
(cd "$APP" && exec env -i "${COMMON[@]}" REDIS_URL="$REDIS_URL" \
  SLUICE_INGEST_BIND=127.0.0.1 SLUICE_INGEST_PORT="$INGEST_PORT" \
  node "$INGEST_MAIN") >"$LOGS/ingest.log" 2>&1 &
INGEST_PID=$!
PIDS+=("$INGEST_PID")
(cd "$APP" && exec env -i "${COMMON[@]}" DATABASE_URL="$DATABASE_URL" \
  BIND=127.0.0.1 PORT="$GATEWAY_PORT" SLUICE_DRAIN_SECONDS=1 \
  "${runtime_cmd[@]}") >"$LOGS/gateway.log" 2>&1 &
GATEWAY_PID=$!
PIDS+=("$GATEWAY_PID")

wait_ok() { # NAME PID URL SECONDS
  local name="$1" pid="$2" url="$3" deadline code
  deadline=$(($(date +%s) + $4))
  while :; do
    if ! alive "$pid"; then
      tail -n 30 "$LOGS/$name.log" | sed 's/^/      | /'
      fail "$name exited before $url answered 200 (log: .run/image-smoke/$name.log)"
    fi
    code="$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$url")"
    [ "$code" = 200 ] && return 0
    if [ "$(date +%s)" -ge "$deadline" ]; then
      tail -n 30 "$LOGS/$name.log" | sed 's/^/      | /'
      fail "$name: $url answered ${code:-nothing} for $4 s (log: .run/image-smoke/$name.log)"
    fi
    sleep 0.2
  done
}
wait_ok ingest "$INGEST_PID" "http://127.0.0.1:$INGEST_PORT/health" 30
wait_ok gateway "$GATEWAY_PID" "http://127.0.0.1:$GATEWAY_PORT/readyz" 30
echo "    ingest /health 200, gateway /readyz 200"

# ---- 5. a client receives an event -----------------------------------------------------------
step "5. SSE client on /api/v1/streaming/public/local, PUBLISH update on timeline:public:local"
export GATEWAY_PORT
if ! (cd "$WORK/client" && timeout 60 node smoke.mjs) 2>&1 | tee "$LOGS/client.log"; then
  for name in ingest gateway; do
    echo "    --- last lines of $name.log"
    tail -n 15 "$LOGS/$name.log" | sed 's/^/      | /'
  done
  fail "5. the client did not receive the event through ingest and gateway"
fi

# ---- 6. SIGTERM ------------------------------------------------------------------------------
step "6. SIGTERM to both: they drain and exit 0"
stop_one() { # NAME PID
  local name="$1" pid="$2" i rc
  kill -TERM "$pid" 2>/dev/null || fail "$name (pid $pid) was not running at SIGTERM"
  for ((i = 0; i < 150; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  alive "$pid" && fail "$name did not exit within 15 s of SIGTERM"
  wait "$pid"
  rc=$?
  [ "$rc" -eq 0 ] || fail "$name exited $rc after SIGTERM (log: .run/image-smoke/$name.log)"
  echo "    $name exited 0"
}
stop_one gateway "$GATEWAY_PID"
stop_one ingest "$INGEST_PID"
