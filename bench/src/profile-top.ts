/**
 * Summarises a V8 CPU profile (`--profile` writes them to bench/results/tmp/<run>/): self time
 * per function, and the share of idle, GC and program time.
 *   node bench/dist/profile-top.js <file.cpuprofile> [top N, default 25]
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { REPO_ROOT } from './env.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export function topFunctions(p: Profile, top: number): string[] {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const total = p.endTime - p.startTime;
  const byFunction = new Map<string, number>();
  for (const [id, us] of self) {
    const f = byId.get(id)?.callFrame;
    if (!f) continue;
    const where = f.url ? `${relative(REPO_ROOT, f.url.replace(/^file:\/\//, ''))}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'} ${where}`.trim();
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  }
  const sorted = [...byFunction.entries()].sort((a, b) => b[1] - a[1]);
  const pct = (us: number) => `${((us / total) * 100).toFixed(1).padStart(5)}%`;
  const lines = [`profile: ${(total / 1e6).toFixed(1)} s, self time by function (share of wall time)`];
  for (const [k, us] of sorted.slice(0, top))
    lines.push(`${pct(us)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`);
  return lines;
}

const [file, n] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/dist/profile-top.js <file.cpuprofile> [top N]');
  process.exit(1);
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
console.log(topFunctions(profile, Number(n ?? 25)).join('\n'));
