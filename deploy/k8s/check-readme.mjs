#!/usr/bin/env node
// Keeps the chart README in sync with values.yaml.
//
//   node deploy/k8s/check-readme.mjs [chart dir]      (default: deploy/k8s/helm/sluice)
//
// Fails when
//  - a leaf key of values.yaml is not in the tables of the README's "## Values" section
//    (first column `full.dotted.path`, second column the default);
//  - a key in that table does not exist in values.yaml (stale documentation);
//  - a scalar's default in the table differs from values.yaml;
//  - a variable of docs/configuration.md cannot be set through the chart, or the chart accepts
//    one the docs do not know.
// Leaves follow values.schema.json: the walk descends into objects whose schema lists their
// properties and forbids others; free-form maps (annotations, resources, behavior, …) and lists
// are leaves themselves.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const here = fileURLToPath(new URL('.', import.meta.url));
const chartDir = resolve(process.argv[2] ?? join(here, 'helm', 'sluice'));
const values = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8'));
const schema = JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8'));
const readme = readFileSync(join(chartDir, 'README.md'), 'utf8');

const deref = (node) => {
  let current = node ?? {};
  while (current.$ref) {
    const path = current.$ref.replace(/^#\//, '').split('/');
    current = path.reduce((acc, part) => acc?.[part], schema) ?? {};
  }
  return current;
};
const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** @type {Map<string, unknown>} leaf path -> default value */
const leaves = new Map();
function walk(value, node, path) {
  const s = deref(node);
  const structured = isPlainObject(value) && s.properties && s.additionalProperties === false;
  if (structured && Object.keys(value).length > 0) {
    for (const [key, child] of Object.entries(value)) walk(child, s.properties[key], [...path, key]);
  } else {
    leaves.set(path.join('.'), value);
  }
}
walk(values, schema, []);

// Rows of the tables in the README's "## Values" section: | `key` | default | description |
const rows = new Map();
let inValues = false;
for (const line of readme.split('\n')) {
  if (line.startsWith('## ')) inValues = line.trim() === '## Values';
  const match = inValues && /^\|\s*`([^`]+)`\s*\|([^|]*)\|/.exec(line);
  if (match) rows.set(match[1], match[2].trim());
}
if (rows.size === 0) {
  console.log('FAIL README.md has no "## Values" section with a | `key` | default | description | table');
  process.exit(1);
}

const problems = [];
for (const [path, value] of leaves) {
  if (!rows.has(path)) {
    problems.push(`values.yaml key \`${path}\` is not documented in README.md`);
    continue;
  }
  if (value === null || typeof value !== 'object') {
    const cell = rows.get(path);
    const expected = value === '' ? '""' : String(value);
    const shown = cell.replace(/`/g, '').replace(/^"(.+)"$/, '$1');
    if (shown !== expected)
      problems.push(`README default of \`${path}\` is ${cell}, values.yaml has ${expected}`);
  }
}
// Every variable of docs/configuration.md can be set through the chart: in `env`, in `secrets`,
// or by the chart itself. (A variable added to the docs must be added to values.schema.json.)
const CHART_MANAGED = [
  'PORT',
  'BIND',
  'SOCKET',
  'SLUICE_INGEST_PORT',
  'SLUICE_INGEST_BIND',
  'NATS_URL',
  'NATS_CREDS',
  'NATS_TLS_CA',
  'NATS_TLS_CERT',
  'NATS_TLS_KEY',
  'SLUICE_DRAIN_SECONDS',
  'MASTODON_ROOT',
  'OTEL_SERVICE_NAME',
];
const NOT_IN_DOCS = ['NODE_OPTIONS'];
const configurationDoc = readFileSync(join(here, '..', '..', 'docs', 'configuration.md'), 'utf8');
const documentedVars = new Set(
  configurationDoc
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .flatMap((line) => [...line.split('|')[1].matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1])),
);
const envVars = Object.keys(deref(schema.properties.env).properties ?? {});
const secretVars = Object.keys(deref(deref(schema.properties.secrets).properties.env).properties ?? {});
for (const name of documentedVars) {
  if (!envVars.includes(name) && !secretVars.includes(name) && !CHART_MANAGED.includes(name)) {
    problems.push(
      `docs/configuration.md variable ${name} cannot be set through the chart (values.schema.json env/secrets.env)`,
    );
  }
}
for (const name of [...envVars, ...secretVars]) {
  if (!documentedVars.has(name) && !NOT_IN_DOCS.includes(name)) {
    problems.push(`values.schema.json accepts ${name}, which docs/configuration.md does not document`);
  }
}

const known = (key) => leaves.has(key) || [...leaves.keys()].some((leaf) => leaf.startsWith(`${key}.`));
for (const key of rows.keys()) {
  if (!known(key)) problems.push(`README documents \`${key}\`, which is not in values.yaml`);
}

if (problems.length > 0) {
  for (const problem of problems) console.log(`FAIL ${problem}`);
  console.log(`check-readme: ${problems.length} problem(s) (${chartDir})`);
  process.exit(1);
}
console.log(
  `check-readme: all ${leaves.size} values.yaml keys documented with matching defaults; ` +
    `all ${documentedVars.size} variables of docs/configuration.md settable through the chart`,
);
