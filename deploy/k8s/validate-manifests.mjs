#!/usr/bin/env node
// Validates rendered Kubernetes manifests offline.
//
//   node deploy/k8s/validate-manifests.mjs rendered.yaml [more.yaml …]
//
// 1. Schema: every document is checked against the Kubernetes OpenAPI schemas shipped in npm
//    (kubernetes-models; CRDs with @kubernetes-models/prometheus-operator and
//    @kubernetes-models/gateway-api): types, enums, required fields, formats. These models do not
//    reject unknown fields; deploy/k8s/kstrict (strict decoding into the API's Go types) does.
// 2. Consistency, what the API server or controllers would only notice later: selectors match
//    pod labels, Services/probes/ServiceMonitors name ports that exist, HPAs and PDBs point at
//    rendered workloads, and a gateway's terminationGracePeriodSeconds covers preStop + drain.
//
// Dependencies come from deploy/package.json (`npm ci --prefix deploy`).
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: validate-manifests.mjs FILE...');
  process.exit(2);
}

/** Which npm package holds the model of an apiVersion. */
function modelPackage(apiVersion) {
  if (apiVersion.startsWith('monitoring.coreos.com/')) return '@kubernetes-models/prometheus-operator';
  if (apiVersion.startsWith('gateway.networking.k8s.io/')) return '@kubernetes-models/gateway-api';
  return 'kubernetes-models';
}

const modelCache = new Map();
async function modelFor(apiVersion, kind) {
  const key = `${apiVersion}/${kind}`;
  if (!modelCache.has(key)) {
    let model;
    try {
      const module = await import(`${modelPackage(apiVersion)}/${apiVersion}`);
      model = module[kind];
    } catch {
      model = undefined;
    }
    modelCache.set(key, model);
  }
  return modelCache.get(key);
}

const errors = [];
const objects = [];
const fail = (where, message) => errors.push(`${where}: ${message}`);

for (const file of files) {
  const documents = parseAllDocuments(readFileSync(file, 'utf8'));
  for (const [index, document] of documents.entries()) {
    const where = `${file} doc ${index}`;
    if (document.errors.length > 0) {
      fail(where, `YAML: ${document.errors.map((e) => e.message).join('; ')}`);
      continue;
    }
    const object = document.toJS();
    if (object === null || object === undefined) continue;
    if (typeof object !== 'object' || Array.isArray(object)) {
      fail(where, 'not a mapping');
      continue;
    }
    const { apiVersion, kind } = object;
    const name = object.metadata?.name;
    const label = `${where} (${kind ?? '?'} ${name ?? '?'})`;
    if (!apiVersion || !kind || !name) {
      fail(label, 'apiVersion, kind and metadata.name are required');
      continue;
    }
    const Model = await modelFor(apiVersion, kind);
    if (!Model) {
      fail(label, `no schema for ${apiVersion} ${kind}`);
      continue;
    }
    try {
      new Model(object).validate();
    } catch (error) {
      fail(label, `schema: ${error.message}`);
      continue;
    }
    objects.push({ object, label });
  }
}

// ---- consistency ---------------------------------------------------------------------------
const byKind = (kind) => objects.filter(({ object }) => object.kind === kind);
const seen = new Set();
for (const { object, label } of objects) {
  const id = `${object.apiVersion}/${object.kind}/${object.metadata.namespace ?? ''}/${object.metadata.name}`;
  if (seen.has(id)) fail(label, 'duplicate object');
  seen.add(id);
  if (object.kind === 'Service' && !/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/.test(object.metadata.name)) {
    fail(label, 'Service names must be DNS-1035 labels (≤ 63 characters)');
  }
  for (const [key, value] of Object.entries(object.metadata.labels ?? {})) {
    if (String(value).length > 63) fail(label, `label ${key} is longer than 63 characters`);
  }
}

const matches = (selector, labels) =>
  Object.entries(selector ?? {}).every(([key, value]) => labels?.[key] === value);
const workloads = objects.filter(({ object }) =>
  ['Deployment', 'StatefulSet', 'DaemonSet'].includes(object.kind),
);
const podsOf = ({ object }) => object.spec.template;
const containerPorts = (template) =>
  new Set(template.spec.containers.flatMap((c) => (c.ports ?? []).flatMap((p) => [p.name, p.containerPort])));

for (const workload of workloads) {
  const { object, label } = workload;
  const template = podsOf(workload);
  if (!matches(object.spec.selector.matchLabels, template.metadata?.labels)) {
    fail(label, 'spec.selector.matchLabels does not match the pod template labels');
  }
  const ports = containerPorts(template);
  for (const container of template.spec.containers) {
    for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
      const port = container[probe]?.httpGet?.port;
      if (port !== undefined && !ports.has(port))
        fail(label, `${container.name}.${probe} uses unknown port ${port}`);
    }
    const sleep = container.lifecycle?.preStop?.sleep?.seconds ?? 0;
    const drainVar = (container.env ?? []).find((e) => e.name === 'SLUICE_DRAIN_SECONDS');
    if (drainVar) {
      const needed = sleep + Number(drainVar.value);
      const grace = template.spec.terminationGracePeriodSeconds ?? 30;
      if (!(grace > needed)) {
        fail(
          label,
          `terminationGracePeriodSeconds ${grace} must exceed preStop ${sleep} s + drain ${drainVar.value} s`,
        );
      }
    }
  }
}

for (const { object, label } of byKind('Service')) {
  const targets = workloads.filter((w) => matches(object.spec.selector, podsOf(w).metadata?.labels));
  if (targets.length === 0) {
    fail(label, 'selector matches no rendered workload');
    continue;
  }
  for (const port of object.spec.ports ?? []) {
    const target = port.targetPort ?? port.port;
    if (!targets.every((w) => containerPorts(podsOf(w)).has(target))) {
      fail(label, `targetPort ${target} is not a container port of the selected pods`);
    }
  }
}

for (const { object, label } of byKind('PodDisruptionBudget')) {
  if (!workloads.some((w) => matches(object.spec.selector?.matchLabels, podsOf(w).metadata?.labels))) {
    fail(label, 'selector matches no rendered workload');
  }
}

for (const { object, label } of byKind('HorizontalPodAutoscaler')) {
  const ref = object.spec.scaleTargetRef;
  const target = workloads.find(({ object: w }) => w.kind === ref.kind && w.metadata.name === ref.name);
  if (!target) fail(label, `scaleTargetRef ${ref.kind}/${ref.name} is not rendered`);
  else if (target.object.spec.replicas !== undefined) {
    fail(label, `${ref.kind}/${ref.name} sets spec.replicas, which fights the HPA on every upgrade`);
  }
  if ((object.spec.minReplicas ?? 1) > object.spec.maxReplicas) fail(label, 'minReplicas > maxReplicas');
}

const services = byKind('Service');
for (const { object, label } of byKind('ServiceMonitor')) {
  const selected = services.filter(({ object: s }) =>
    matches(object.spec.selector?.matchLabels, s.metadata.labels),
  );
  if (selected.length === 0) fail(label, 'selector matches no rendered Service');
  for (const endpoint of object.spec.endpoints ?? []) {
    if (!selected.some(({ object: s }) => s.spec.ports.some((p) => p.name === endpoint.port))) {
      fail(label, `endpoint port ${endpoint.port} is not a port name of the selected Services`);
    }
  }
}

const backendServices = [
  ...byKind('Ingress').flatMap(({ object, label }) =>
    (object.spec.rules ?? []).flatMap((rule) =>
      (rule.http?.paths ?? []).map((path) => ({
        label,
        name: path.backend.service?.name,
        port: path.backend.service?.port?.number ?? path.backend.service?.port?.name,
      })),
    ),
  ),
  ...byKind('HTTPRoute').flatMap(({ object, label }) =>
    (object.spec.rules ?? []).flatMap((rule) =>
      (rule.backendRefs ?? []).map((ref) => ({ label, name: ref.name, port: ref.port })),
    ),
  ),
];
for (const { label, name, port } of backendServices) {
  const service = services.find(({ object }) => object.metadata.name === name);
  if (!service) fail(label, `backend Service ${name} is not rendered`);
  else if (!service.object.spec.ports.some((p) => p.port === port || p.name === port)) {
    fail(label, `backend Service ${name} has no port ${port}`);
  }
}

const kinds = {};
for (const { object } of objects) kinds[object.kind] = (kinds[object.kind] ?? 0) + 1;
const summary = Object.entries(kinds)
  .map(([kind, count]) => `${count} ${kind}`)
  .join(', ');
if (objects.length === 0 && errors.length === 0)
  errors.push(`${files.join(' ')}: no Kubernetes objects found`);
if (errors.length > 0) {
  for (const error of errors) console.log(`FAIL ${error}`);
  console.log(`validate-manifests: ${errors.length} problem(s) in ${files.join(' ')}`);
  process.exit(1);
}
console.log(`validate-manifests: ${objects.length} objects valid (${summary})`);
