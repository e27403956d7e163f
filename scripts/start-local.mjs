// Runs the ingest and gateway services side by side (`npm start`, scripts/start.sh).
// Children inherit stdio and the environment. SIGINT/SIGTERM are forwarded to both (a second signal
// kills them). When one child exits, the other is stopped. Exit status: 0 only if both exited cleanly
// after a requested shutdown; otherwise the first non-zero status (1 if a child stopped on its own).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const STOP_GRACE_MS = Number(process.env.SLUICE_STOP_GRACE_MS ?? 15_000);

const services = [
  { name: 'ingest', script: path.join(root, 'services/ingest/dist/main.js'), flags: [] },
  // A smaller young generation: less memory per idle connection (docs/benchmarks.md).
  {
    name: 'gateway',
    script: path.join(root, 'services/gateway/dist/main.js'),
    flags: ['--max-semi-space-size=8', '--heap-growing-percent=50', '--expose-gc'],
  },
];

const missing = services.filter((s) => !existsSync(s.script));
if (missing.length > 0) {
  for (const s of missing) {
    console.error(`start-local: ${path.relative(root, s.script)} not found (run the build)`);
  }
  process.exit(1);
}

let shuttingDown = false;
let exitCode = 0;
let killTimer;
const children = new Map();

function log(msg) {
  console.error(`start-local: ${msg}`);
}

function stopAll(signal, reason) {
  for (const [name, child] of children) {
    if (child.exitCode === null && child.signalCode === null) {
      log(`sending ${signal} to ${name} (pid ${child.pid})${reason ? `: ${reason}` : ''}`);
      child.kill(signal);
    }
  }
}

function beginShutdown(signal, reason) {
  if (shuttingDown) return;
  shuttingDown = true;
  stopAll(signal, reason);
  killTimer = setTimeout(() => stopAll('SIGKILL', `still running after ${STOP_GRACE_MS} ms`), STOP_GRACE_MS);
  killTimer.unref();
}

for (const s of services) {
  // Own process group: a terminal's Ctrl-C reaches only this process, which forwards it once.
  const child = spawn(process.execPath, [...s.flags, s.script], {
    cwd: root,
    env: process.env,
    stdio: 'inherit',
    detached: true,
  });
  children.set(s.name, child);
  log(`started ${s.name} (pid ${child.pid})`);

  child.on('error', (err) => {
    log(`${s.name}: ${err.message}`);
    if (exitCode === 0) exitCode = 1;
    beginShutdown('SIGTERM', `${s.name} failed`);
    if (child.pid === undefined) {
      // Never started, so no 'exit' event will follow.
      children.delete(s.name);
      if (children.size === 0) process.exit(exitCode);
    }
  });

  child.on('exit', (code, signal) => {
    const how = signal ? `signal ${signal}` : `code ${code}`;
    const expected = shuttingDown;
    log(`${s.name} exited (${how})`);
    // After a requested shutdown, dying of the forwarded signal counts as clean.
    const clean = code === 0 || (expected && (signal === 'SIGTERM' || signal === 'SIGINT'));
    if (!clean && exitCode === 0) exitCode = code || 1;
    if (!expected && exitCode === 0) exitCode = 1; // a long-running service stopped on its own
    beginShutdown('SIGTERM', `${s.name} exited`);
    children.delete(s.name);
    if (children.size === 0) {
      clearTimeout(killTimer);
      process.exit(exitCode);
    }
  });
}

// If this process goes away for any other reason, do not leave the services running.
process.on('exit', () => stopAll('SIGKILL', 'start-local is exiting'));

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (shuttingDown) {
      stopAll('SIGKILL', `second ${sig}`);
      return;
    }
    log(`received ${sig}, stopping services`);
    beginShutdown(sig);
  });
}
