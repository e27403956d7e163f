#!/usr/bin/env node
/**
 * Checks deploy/grafana/sluice-dashboard.json against the code, so that a renamed metric breaks CI:
 *
 *   node deploy/grafana/check-dashboard.mjs [dashboard.json]
 *
 * - the file parses; schemaVersion >= 39; a `datasource` template variable of type prometheus;
 * - every panel (rows and panels nested in collapsed rows included) has a unique id, a gridPos that
 *   overlaps no other panel, and a Prometheus datasource that is the `${datasource}` variable;
 *   every target has a unique refId, a non-empty expr and (if it names one) the same datasource;
 * - every `$variable` used in a query is a template variable or one of Grafana's built-ins;
 * - every metric name in a query (panel targets and `label_values(...)` variables) is exported by
 *   the code: the names declared in services/{ingest,gateway}/src/metrics.ts (with `_bucket`,
 *   `_sum`, `_count` for histograms) and prom-client's default metrics (read from the installed
 *   prom-client when there is one, else the prom-client 15 list below);
 * - Mastodon's streaming metric names are still declared in the code and shown by the dashboard.
 *
 * Metrics declared in the code but shown by no panel are listed as a note (not a failure).
 * Exit status 0 when every check passes, 1 otherwise.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DASHBOARD = resolve(process.argv[2] ?? join(ROOT, 'deploy/grafana/sluice-dashboard.json'));
const METRIC_MODULES = ['services/ingest/src/metrics.ts', 'services/gateway/src/metrics.ts'];

/** The names Mastodon's streaming server exports (streaming/metrics.js): dashboards depend on them. */
const MASTODON_NAMES = [
  'connected_clients',
  'connected_channels',
  'redis_subscriptions',
  'redis_messages_received_total',
  'messages_sent_total',
  'pg_pool_total_connections',
  'pg_pool_idle_connections',
  'pg_pool_waiting_queries',
];

/** prom-client 15's collectDefaultMetrics() names, used when prom-client is not installed. */
const PROM_CLIENT_DEFAULTS = [
  'nodejs_active_handles',
  'nodejs_active_handles_total',
  'nodejs_active_requests',
  'nodejs_active_requests_total',
  'nodejs_active_resources',
  'nodejs_active_resources_total',
  'nodejs_eventloop_lag_max_seconds',
  'nodejs_eventloop_lag_mean_seconds',
  'nodejs_eventloop_lag_min_seconds',
  'nodejs_eventloop_lag_p50_seconds',
  'nodejs_eventloop_lag_p90_seconds',
  'nodejs_eventloop_lag_p99_seconds',
  'nodejs_eventloop_lag_seconds',
  'nodejs_eventloop_lag_stddev_seconds',
  'nodejs_external_memory_bytes',
  'nodejs_gc_duration_seconds',
  'nodejs_heap_size_total_bytes',
  'nodejs_heap_size_used_bytes',
  'nodejs_heap_space_size_available_bytes',
  'nodejs_heap_space_size_total_bytes',
  'nodejs_heap_space_size_used_bytes',
  'nodejs_version_info',
  'process_cpu_seconds_total',
  'process_cpu_system_seconds_total',
  'process_cpu_user_seconds_total',
  'process_heap_bytes',
  'process_max_fds',
  'process_open_fds',
  'process_resident_memory_bytes',
  'process_start_time_seconds',
  'process_virtual_memory_bytes',
];
const PROM_CLIENT_HISTOGRAMS = new Set(['nodejs_gc_duration_seconds']);

/** Grafana's built-in variables that may appear in a Prometheus query. */
const GRAFANA_BUILTINS = new Set([
  '__rate_interval',
  '__interval',
  '__interval_ms',
  '__range',
  '__range_s',
  '__range_ms',
  '__dashboard',
  '__from',
  '__to',
]);

const PROMQL_KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
  'atan2',
]);

// ------------------------------------------------------------------ PromQL

/** `$var`, `${var}`, `${var:fmt}`, `[[var]]` names used in a query. */
export function variablesIn(expr) {
  const out = new Set();
  for (const m of expr.matchAll(
    /\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\$([A-Za-z0-9_]+)|\[\[([A-Za-z0-9_]+)\]\]/g,
  )) {
    out.add(m[1] ?? m[2] ?? m[3]);
  }
  return out;
}

/** Metric names a PromQL expression selects (functions, keywords, labels and durations excluded). */
export function metricNamesIn(expr) {
  let s = expr
    // Grafana variables (also inside ranges: [$__rate_interval]).
    .replace(/\$\{[^}]*\}|\$[A-Za-z0-9_]+|\[\[[A-Za-z0-9_]+\]\]/g, ' 1 ')
    // String literals (label values, label_replace arguments).
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' "" ')
    // Label matchers, then range and subquery selectors.
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ');
  // Grouping and matching clauses carry label names, not metrics.
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set();
  for (const m of s.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = m[0];
    const before = s[m.index - 1] ?? '';
    if (/[0-9.]/.test(before)) continue; // 1e3, 5m, 0.99
    if (PROMQL_KEYWORDS.has(word.toLowerCase())) continue;
    const after = s.slice(m.index + word.length);
    if (/^\s*\(/.test(after)) continue; // function or aggregation
    names.add(word);
  }
  return names;
}

/** Metric names in a Grafana variable query such as `label_values(metric{…}, label)` or `metrics(re)`. */
function metricNamesInVariable(query) {
  const q = typeof query === 'string' ? query : (query?.query ?? '');
  const m = /^\s*label_values\s*\(\s*(.+),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$/.exec(q);
  if (m) return metricNamesIn(m[1]);
  const r = /^\s*query_result\s*\((.*)\)\s*$/.exec(q);
  if (r) return metricNamesIn(r[1]);
  return new Set();
}

function selfTest() {
  const cases = [
    [
      'histogram_quantile(0.99, sum by (le) (rate(a_seconds_bucket{job=~"$job", x="y"}[$__rate_interval])))',
      ['a_seconds_bucket'],
    ],
    ['sum(x{a="b"} * on(instance) group_left(pod) y) / clamp_min(count(z), 1)', ['x', 'y', 'z']],
    ['sum(rate(m_total[5m] offset 1h)) without (type) > bool 0', ['m_total']],
    ['max by (job) (u) or vector(0) unless ignoring (le) w', ['u', 'w']],
    ['label_replace(q, "dst", "$1", "src", "(.*)")', ['q']],
  ];
  for (const [expr, want] of cases) {
    const got = [...metricNamesIn(expr)].sort();
    if (JSON.stringify(got) !== JSON.stringify([...want].sort())) {
      throw new Error(
        `metricNamesIn self-test: ${expr} -> ${JSON.stringify(got)}, want ${JSON.stringify(want)}`,
      );
    }
  }
}

// ------------------------------------------------------------------ the code's metric names

function declaredMetrics() {
  const known = new Map(); // name -> where
  const declared = []; // { name, type, file }
  let defaults = false;
  for (const file of METRIC_MODULES) {
    const src = readFileSync(join(ROOT, file), 'utf8');
    if (/collectDefaultMetrics\s*\(/.test(src)) defaults = true;
    const found = new Map();
    for (const m of src.matchAll(
      /new\s+(Counter|Gauge|Histogram|Summary)\s*(?:<[^>]*>)?\s*\(\s*\{\s*name:\s*['"]([^'"]+)['"]/g,
    )) {
      found.set(m[2], m[1]);
    }
    // Helpers that build a metric from a name argument (gateway: poolGauge('pg_pool_…', …)).
    for (const m of src.matchAll(/\b(\w*Gauge|\w*Counter)\(\s*['"]([a-z_:][a-z0-9_:]*)['"]/g)) {
      if (!found.has(m[2])) found.set(m[2], m[1].endsWith('Counter') ? 'Counter' : 'Gauge');
    }
    // Anything else declared with `name: '…'` (a metric type this script does not know by name).
    for (const m of src.matchAll(/\bname:\s*['"]([a-z_:][a-z0-9_:]*)['"]/g)) {
      if (!found.has(m[1])) found.set(m[1], 'Gauge');
    }
    if (found.size < 5) {
      throw new Error(
        `${file}: found only ${found.size} metric declarations; has the declaration style changed?`,
      );
    }
    for (const [name, type] of found) {
      declared.push({ name, type, file });
      const series = [name];
      if (type === 'Histogram') series.push(`${name}_bucket`, `${name}_sum`, `${name}_count`);
      if (type === 'Summary') series.push(`${name}_sum`, `${name}_count`);
      for (const s of series) known.set(s, known.has(s) ? `${known.get(s)}, ${file}` : file);
    }
  }
  let defaultNames = PROM_CLIENT_DEFAULTS;
  let defaultsFrom = 'the prom-client 15 list in this script';
  if (defaults) {
    try {
      const req = createRequire(join(ROOT, 'services/gateway/package.json'));
      const dir = join(dirname(req.resolve('prom-client/package.json')), 'lib/metrics');
      const names = new Set();
      for (const f of readdirSync(dir).filter((f) => f.endsWith('.js'))) {
        for (const m of readFileSync(join(dir, f), 'utf8').matchAll(
          /['"]((?:nodejs|process)_[a-z0-9_]+)['"]/g,
        )) {
          names.add(m[1]);
        }
      }
      // heapSpacesSizeAndUsed.js builds its names from a template: add them from the list.
      for (const n of PROM_CLIENT_DEFAULTS) if (n.startsWith('nodejs_heap_space_size_')) names.add(n);
      if (names.size >= 10) {
        defaultNames = [...names];
        defaultsFrom = `the installed prom-client (${relative(ROOT, dir)})`;
      }
    } catch {
      // prom-client not installed (deploy checks run without the root node_modules): use the list.
    }
    for (const name of defaultNames) {
      const series = [name];
      if (PROM_CLIENT_HISTOGRAMS.has(name)) series.push(`${name}_bucket`, `${name}_sum`, `${name}_count`);
      for (const s of series) if (!known.has(s)) known.set(s, 'prom-client default metrics');
    }
  }
  return { known, declared, defaults, defaultsFrom };
}

// ------------------------------------------------------------------ the dashboard

function main() {
  selfTest();
  const errors = [];
  const err = (msg) => errors.push(msg);

  let dash;
  try {
    dash = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
  } catch (e) {
    console.error(`FAIL ${relative(ROOT, DASHBOARD)} does not parse: ${e.message}`);
    process.exit(1);
  }
  const { known, declared, defaults, defaultsFrom } = declaredMetrics();

  if (!(Number(dash.schemaVersion) >= 39)) err(`schemaVersion is ${dash.schemaVersion}, want >= 39`);
  if (typeof dash.uid !== 'string' || !dash.uid) err('dashboard has no uid');
  if (typeof dash.title !== 'string' || !dash.title) err('dashboard has no title');

  const vars = dash.templating?.list ?? [];
  const varNames = new Set(vars.map((v) => v.name));
  const dsVar = vars.find((v) => v.name === 'datasource');
  if (!dsVar) err('no `datasource` template variable');
  else if (dsVar.type !== 'datasource' || dsVar.query !== 'prometheus')
    err(
      `the datasource variable is type=${dsVar.type} query=${dsVar.query}, want type=datasource query=prometheus`,
    );

  const DS_UIDS = ['$' + '{datasource}', '$datasource']; // Grafana's syntax, not a JS template
  const isOurDatasource = (ds) =>
    ds && typeof ds === 'object' && ds.type === 'prometheus' && DS_UIDS.includes(ds.uid);

  const used = new Map(); // metric -> first place it is used
  const useMetrics = (names, where) => {
    for (const n of names) {
      if (!known.has(n))
        err(
          `${where}: metric \`${n}\` is not exported by ${METRIC_MODULES.join(' or ')}${defaults ? ' nor a prom-client default metric' : ''}`,
        );
      if (!used.has(n)) used.set(n, where);
    }
  };
  const checkVariables = (text, where) => {
    for (const v of variablesIn(text)) {
      if (!varNames.has(v) && !GRAFANA_BUILTINS.has(v)) err(`${where}: unknown variable \`$${v}\``);
    }
  };

  for (const v of vars) {
    if (v.type !== 'query') continue;
    const where = `variable ${v.name}`;
    if (!isOurDatasource(v.datasource))
      err(`${where}: datasource must be {type: prometheus, uid: \${datasource}}`);
    const q = typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
    if (!q) err(`${where}: empty query`);
    useMetrics(metricNamesInVariable(v.query), where);
    checkVariables(q, where);
  }

  // Every panel, including those nested in (collapsed) rows.
  const all = [];
  for (const p of dash.panels ?? []) {
    all.push(p);
    for (const c of p.panels ?? []) all.push(c);
  }
  if (all.length === 0) err('the dashboard has no panels');
  const ids = new Map();
  const boxes = [];
  for (const p of all) {
    const where = `panel ${p.id ?? '?'} "${p.title ?? ''}"`;
    if (!Number.isInteger(p.id)) err(`${where}: id must be an integer`);
    else if (ids.has(p.id)) err(`${where}: id ${p.id} already used by "${ids.get(p.id)}"`);
    else ids.set(p.id, p.title);
    if (!p.type) err(`${where}: no type`);
    if (!isOurDatasource(p.datasource))
      err(
        `${where}: datasource must be {type: prometheus, uid: \${datasource}}, got ${JSON.stringify(p.datasource)}`,
      );
    const g = p.gridPos;
    if (
      !g ||
      ![g.x, g.y, g.w, g.h].every(Number.isInteger) ||
      g.w < 1 ||
      g.h < 1 ||
      g.x < 0 ||
      g.x + g.w > 24
    )
      err(`${where}: bad gridPos ${JSON.stringify(g)}`);
    else if ((dash.panels ?? []).includes(p)) boxes.push({ where, ...g });
    const targets = p.targets ?? [];
    if (p.type !== 'row' && targets.length === 0) err(`${where}: no targets`);
    if (p.type === 'row' && targets.length > 0) err(`${where}: a row has targets`);
    const refIds = new Set();
    for (const t of targets) {
      const tw = `${where} target ${t.refId ?? '?'}`;
      if (!t.refId) err(`${tw}: no refId`);
      else if (refIds.has(t.refId)) err(`${tw}: duplicate refId`);
      refIds.add(t.refId);
      if (t.datasource !== undefined && !isOurDatasource(t.datasource))
        err(`${tw}: datasource must be the panel's \${datasource}, got ${JSON.stringify(t.datasource)}`);
      if (typeof t.expr !== 'string' || !t.expr.trim()) {
        err(`${tw}: empty expr`);
        continue;
      }
      useMetrics(metricNamesIn(t.expr), tw);
      checkVariables(t.expr, tw);
      if (metricNamesIn(t.expr).size === 0) err(`${tw}: expr selects no metric: ${t.expr}`);
    }
  }
  // Top-level panels only: the children of collapsed rows are positioned for when they open.
  const top = boxes;
  for (let i = 0; i < top.length; i++) {
    for (let j = i + 1; j < top.length; j++) {
      const a = top[i];
      const b = top[j];
      if (a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h)
        err(`${a.where} overlaps ${b.where}`);
    }
  }

  for (const n of MASTODON_NAMES) {
    if (!declared.some((d) => d.name === n))
      err(`Mastodon's metric \`${n}\` is no longer declared in the code`);
    if (!used.has(n)) err(`Mastodon's metric \`${n}\` is shown by no panel`);
  }

  const unused = declared
    .map((d) => d.name)
    .filter((n) => ![n, `${n}_bucket`, `${n}_sum`, `${n}_count`].some((s) => used.has(s)));
  console.log(
    `${relative(ROOT, DASHBOARD)}: ${all.length} panels, ${used.size} metric names used; ` +
      `${declared.length} metrics declared in ${METRIC_MODULES.length} modules; default metrics from ${defaultsFrom}`,
  );
  if (unused.length) console.log(`note: declared but shown by no panel: ${[...new Set(unused)].join(', ')}`);
  if (errors.length) {
    for (const e of errors) console.error(`FAIL ${e}`);
    console.error(`${errors.length} problem(s) in ${relative(ROOT, DASHBOARD)}`);
    process.exit(1);
  }
  console.log('dashboard OK');
}

if (existsSync(DASHBOARD)) main();
else {
  console.error(`FAIL ${relative(ROOT, DASHBOARD)} does not exist`);
  process.exit(1);
}
