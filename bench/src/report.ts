/**
 * What every result file carries besides the figures: the machine, the commit, the command
 * and the date; and where it is written (bench/results/<scenario>-<date>.json).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, freemem, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './env.js';
import { openFilesLimit } from './measure/proc-sampler.js';

export interface Machine {
  cpuModel: string;
  cpus: number;
  memGiB: number;
  freeMemGiB: number;
  kernel: string;
  os: string;
  node: string;
  natsServer: string;
  redisServer: string;
  openFilesLimit: number;
  ephemeralPorts: string;
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

function readText(path: string): string {
  try {
    return execFileSync('cat', [path], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

export function machine(): Machine {
  const os = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readText('/etc/os-release'))?.[1] ?? 'unknown';
  return {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cpus: cpus().length,
    memGiB: Math.round(totalmem() / 2 ** 30),
    freeMemGiB: Math.round(freemem() / 2 ** 30),
    kernel: release(),
    os,
    node: process.version,
    natsServer: sh('nats-server', ['--version']),
    redisServer: /v=(\S+)/.exec(sh('redis-server', ['--version']))?.[1] ?? 'unknown',
    openFilesLimit: openFilesLimit(),
    ephemeralPorts: readText('/proc/sys/net/ipv4/ip_local_port_range').replace(/\s+/g, '-'),
  };
}

/** The commit under test (read-only git), with `+dirty` when the tree has changes. */
export function commit(): string {
  const head = sh('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD']);
  const dirty = sh('git', [
    '--no-optional-locks',
    '-C',
    REPO_ROOT,
    'status',
    '--porcelain',
    '--untracked-files=no',
  ]);
  return dirty && dirty !== 'unknown' ? `${head}+dirty` : head;
}

export function writeResult(
  scenario: string,
  result: unknown,
  dir = join(REPO_ROOT, 'bench', 'results'),
): string {
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/:/g, '-').replace(/\..*$/, '');
  const file = join(dir, `${scenario}-${stamp}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  return file;
}

export const round = (v: number, digits = 1): number => {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};

/** Thousands separators for the human line. */
export const n = (v: number): string => Math.round(v).toLocaleString('en-US');
