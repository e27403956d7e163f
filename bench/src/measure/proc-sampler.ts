/**
 * Samples CPU and RSS of named processes once per interval from /proc/<pid>/stat (utime +
 * stime, in clock ticks) and /proc/<pid>/status (VmRSS). Phases are marked by name, and the
 * summary gives each process's average and peak CPU and its RSS over each phase.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface ProcSample {
  /** ms since the sampler started. */
  t: number;
  /** % of one core over the previous interval. */
  cpu: number;
  rssKb: number;
}

export interface ProcSeries {
  name: string;
  pid: number;
  samples: ProcSample[];
  /** CPU seconds (user + system) at the first and last sample. */
  cpuStart: number;
  cpuEnd: number;
  gone: boolean;
}

export interface PhaseStats {
  cpuAvgPct: number;
  cpuMaxPct: number;
  cpuSeconds: number;
  rssStartMb: number;
  rssEndMb: number;
  rssMaxMb: number;
}

function clockTicks(): number {
  try {
    const v = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(v) && v > 0 ? v : 100;
  } catch {
    return 100;
  }
}

/** CPU seconds and RSS (kB) of a process, or null if it is gone. */
export function readProc(pid: number, ticks: number): { cpuSeconds: number; rssKb: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After "pid (comm) ": field 3 (state) is index 0, so utime (14) is 11 and stime (15) is 12.
    const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / ticks;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return { cpuSeconds, rssKb: m ? Number(m[1]) : 0 };
  } catch {
    return null;
  }
}

export function readPidFile(path: string): number | null {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** Whole machine: busy CPU seconds (all cores, as /proc/stat counts them) and used memory (kB). */
export function readMachine(ticks: number): { cpuSeconds: number; rssKb: number } | null {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal
    const busy =
      (cpu[0] ?? 0) + (cpu[1] ?? 0) + (cpu[2] ?? 0) + (cpu[5] ?? 0) + (cpu[6] ?? 0) + (cpu[7] ?? 0);
    const mem = readFileSync('/proc/meminfo', 'utf8');
    const total = Number(/^MemTotal:\s+(\d+)/m.exec(mem)?.[1] ?? 0);
    const avail = Number(/^MemAvailable:\s+(\d+)/m.exec(mem)?.[1] ?? 0);
    return { cpuSeconds: busy / ticks, rssKb: total - avail };
  } catch {
    return null;
  }
}

/** A pid from a pid file, else the oldest process of that name (pgrep). */
export function findPid(pidFile: string, name: string): number | null {
  const pid = readPidFile(pidFile);
  if (pid && readProc(pid, 100)) return pid;
  try {
    const out = execFileSync('pgrep', ['-o', '-x', name], { encoding: 'utf8' }).trim();
    return out ? Number(out) : null;
  } catch {
    return null;
  }
}

/** The soft limit on open files of this process (what children inherit). */
export function openFilesLimit(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(
      readFileSync('/proc/self/limits', 'utf8'),
    );
    if (m && m[1] !== 'unlimited') return Number(m[1]);
  } catch {
    // not Linux
  }
  return 1_000_000;
}

export class ProcSampler {
  private readonly ticks = clockTicks();
  private readonly series = new Map<number, ProcSeries>();
  private readonly last = new Map<number, number>();
  private readonly phases: { name: string; t: number }[] = [];
  private readonly start = Date.now();
  private lastT = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly intervalMs = 1000) {}

  /** Pid 0 samples the whole machine (CPU of all processes, in % of one core; used memory as RSS). */
  private read(pid: number) {
    return pid === 0 ? readMachine(this.ticks) : readProc(pid, this.ticks);
  }

  add(name: string, pid: number): void {
    if (this.series.has(pid)) return;
    const p = this.read(pid);
    this.series.set(pid, {
      name,
      pid,
      samples: [],
      cpuStart: p?.cpuSeconds ?? 0,
      cpuEnd: p?.cpuSeconds ?? 0,
      gone: p === null,
    });
    this.last.set(pid, p?.cpuSeconds ?? 0);
  }

  startSampling(): void {
    this.lastT = Date.now();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.sample();
  }

  mark(phase: string): void {
    this.sample();
    this.phases.push({ name: phase, t: Date.now() - this.start });
  }

  sample(): void {
    const now = Date.now();
    const dt = (now - this.lastT) / 1000;
    this.lastT = now;
    for (const s of this.series.values()) {
      if (s.gone) continue;
      const p = this.read(s.pid);
      if (!p) {
        s.gone = true;
        continue;
      }
      const prev = this.last.get(s.pid) ?? p.cpuSeconds;
      this.last.set(s.pid, p.cpuSeconds);
      s.cpuEnd = p.cpuSeconds;
      const cpu = dt > 0.05 ? Math.round(((p.cpuSeconds - prev) / dt) * 1000) / 10 : 0;
      s.samples.push({ t: now - this.start, cpu, rssKb: p.rssKb });
    }
  }

  /** Current RSS (kB) of one process, read now. */
  rssKb(pid: number): number {
    return readProc(pid, this.ticks)?.rssKb ?? 0;
  }

  /** Per process, statistics over the time between two phase marks (end: now). */
  phaseStats(from: string, to?: string): Record<string, PhaseStats & { pid: number }> {
    const t0 = this.phases.find((p) => p.name === from)?.t ?? 0;
    const t1 = to
      ? (this.phases.find((p) => p.name === to)?.t ?? Number.POSITIVE_INFINITY)
      : Number.POSITIVE_INFINITY;
    const out: Record<string, PhaseStats & { pid: number }> = {};
    for (const s of this.series.values()) {
      // The sample at t0 closes the interval before the phase; the first one after opens it.
      const inPhase = s.samples.filter((x) => x.t > t0 && x.t <= t1 + 1);
      const atStart = [...s.samples].reverse().find((x) => x.t <= t0 + 1);
      if (inPhase.length === 0) continue;
      const cpuSeconds = inPhase.reduce((a, x, i) => {
        const prevT = i === 0 ? (atStart?.t ?? t0) : inPhase[i - 1]!.t;
        return a + (x.cpu / 100) * ((x.t - prevT) / 1000);
      }, 0);
      const secs = (inPhase[inPhase.length - 1]!.t - (atStart?.t ?? t0)) / 1000;
      const mb = (kb: number) => Math.round(kb / 102.4) / 10;
      out[s.name] = {
        pid: s.pid,
        cpuAvgPct: secs > 0 ? Math.round((cpuSeconds / secs) * 1000) / 10 : 0,
        cpuMaxPct: Math.max(...inPhase.map((x) => x.cpu)),
        cpuSeconds: Math.round(cpuSeconds * 100) / 100,
        rssStartMb: mb(atStart?.rssKb ?? inPhase[0]!.rssKb),
        rssEndMb: mb(inPhase[inPhase.length - 1]!.rssKb),
        rssMaxMb: mb(Math.max(...inPhase.map((x) => x.rssKb))),
      };
    }
    // CPU used on the machine by processes that are not part of the run (other work, noise).
    const m = out['machine'];
    if (m) {
      let ours = 0;
      for (const [k, v] of Object.entries(out)) if (k !== 'machine') ours += v.cpuAvgPct;
      out['unaccounted'] = {
        pid: -1,
        cpuAvgPct: Math.round((m.cpuAvgPct - ours) * 10) / 10,
        cpuMaxPct: 0,
        cpuSeconds: 0,
        rssStartMb: 0,
        rssEndMb: 0,
        rssMaxMb: 0,
      };
    }
    return out;
  }

  phaseMarks(): { name: string; t: number }[] {
    return [...this.phases];
  }

  allSeries(): ProcSeries[] {
    return [...this.series.values()];
  }
}
