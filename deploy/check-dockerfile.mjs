#!/usr/bin/env node
// Catches the usual ways the Dockerfile drifts from the repository, without Docker:
//  - a workspace of the root package.json whose package.json is not copied before `npm ci`
//    (npm ci then fails: the lock file names it);
//  - a COPY source that does not exist, or that .dockerignore leaves out of the build context;
//  - entrypoints that are not the packages' `main`;
//  - a runtime stage that runs as root.
//
//   node deploy/check-dockerfile.mjs
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const dockerfile = readFileSync(join(repo, 'Dockerfile'), 'utf8');
const ignore = readFileSync(join(repo, '.dockerignore'), 'utf8')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line && !line.startsWith('#'));
const rootPackage = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));

const problems = [];
const fail = (message) => problems.push(message);

// Instructions with line continuations joined, grouped by stage.
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line && !line.startsWith('#'));
const stages = [];
for (const line of instructions) {
  const [keyword] = line.split(/\s+/, 1);
  if (keyword.toUpperCase() === 'FROM') stages.push({ from: line, lines: [] });
  else if (stages.length > 0) stages.at(-1).lines.push(line);
}
if (stages.length === 0) fail('Dockerfile has no FROM');

// .dockerignore patterns (Go filepath.Match plus **), no negations used here.
const toRegExp = (pattern) =>
  new RegExp(
    `^${pattern
      .replace(/^\//, '')
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*\*\//g, '\u0000')
      .replace(/\*\*/g, '.*')
      .replace(/\*/g, '[^/]*')
      .replace(/\?/g, '[^/]')
      .replace(/\u0000/g, '(.*/)?')}(/.*)?$`,
  );
const ignored = (path) => ignore.some((pattern) => toRegExp(pattern).test(path.replace(/\/$/, '')));

for (const [index, stage] of stages.entries()) {
  const copies = stage.lines
    .filter((line) => /^COPY\s/i.test(line) && !/--from=/.test(line))
    .map((line) => line.split(/\s+/).filter((word) => !word.startsWith('--')));
  for (const words of copies) {
    for (const source of words.slice(1, -1)) {
      if (!existsSync(join(repo, source))) fail(`stage ${index}: COPY source ${source} does not exist`);
      else if (ignored(source)) fail(`stage ${index}: COPY source ${source} is excluded by .dockerignore`);
    }
  }
  if (stage.lines.some((line) => /\bnpm ci\b/.test(line))) {
    const copied = new Set(copies.flatMap((words) => words.slice(1, -1)));
    for (const needed of ['package.json', 'package-lock.json']) {
      if (!copied.has(needed)) fail(`stage ${index}: runs npm ci without copying ${needed}`);
    }
    for (const workspace of rootPackage.workspaces ?? []) {
      if (
        !copied.has(`${workspace}/package.json`) &&
        !copied.has(workspace) &&
        !copied.has(`${workspace}/`)
      ) {
        fail(
          `stage ${index}: runs npm ci without ${workspace}/package.json (a workspace of the root package.json)`,
        );
      }
    }
  }
}

const runtime = stages.at(-1);
if (runtime) {
  if (!runtime.lines.some((line) => /^USER\s+(node|1000)\b/i.test(line)))
    fail('runtime stage does not switch to USER node');
  const entrypoints = runtime.lines
    .filter((line) => /^(CMD|ENTRYPOINT)\s/i.test(line))
    .flatMap((line) => [...line.matchAll(/services\/[\w-]+\/dist\/[\w./-]+\.js/g)].map((m) => m[0]));
  for (const name of ['gateway', 'ingest']) {
    const pkg = JSON.parse(readFileSync(join(repo, 'services', name, 'package.json'), 'utf8'));
    const main = join('services', name, pkg.main ?? 'index.js').replace(/\/\.\//g, '/');
    const mentioned = dockerfile.includes(main);
    if (!mentioned) fail(`Dockerfile does not mention ${main} (the "main" of services/${name})`);
    if (name === 'gateway' && !entrypoints.includes(main)) fail(`default CMD is not the gateway's ${main}`);
  }
}

if (problems.length > 0) {
  for (const problem of problems) console.log(`FAIL ${problem}`);
  process.exit(1);
}
console.log(
  `check-dockerfile: ${stages.length} stages; COPY sources exist and are in the build context; ` +
    `every workspace is copied before npm ci; runs as node`,
);
