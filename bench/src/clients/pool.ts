/**
 * Coordinator side of the client workers: forks them, splits the clients between them, and
 * sends each request to all of them at once.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nowUs } from '../publish/status.js';
import type {
  ClientSpec,
  Envelope,
  Expectations,
  InitMsg,
  Reply,
  Request,
  WorkerResult,
  WorkerStatus,
} from './protocol.js';

const WORKER = join(dirname(fileURLToPath(import.meta.url)), 'worker.js');

interface Pending {
  resolve: (r: Reply) => void;
  reject: (e: Error) => void;
}

class WorkerHandle {
  private rid = 0;
  private readonly pending = new Map<number, Pending>();
  readonly exited: Promise<number | null>;
  alive = true;

  constructor(
    readonly child: ChildProcess,
    readonly clients: ClientSpec[],
  ) {
    child.on('message', (m: Envelope<Reply>) => {
      const p = this.pending.get(m.rid);
      if (!p) return;
      this.pending.delete(m.rid);
      if (m.body.type === 'error') p.reject(new Error(`client worker: ${m.body.message}`));
      else p.resolve(m.body);
    });
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        this.alive = false;
        for (const p of this.pending.values()) p.reject(new Error(`client worker exited (code ${code})`));
        this.pending.clear();
        resolve(code);
      }),
    );
  }

  ask(body: InitMsg | Request, timeoutMs = 60_000): Promise<Reply> {
    if (!this.alive) return Promise.reject(new Error('client worker is gone'));
    const rid = ++this.rid;
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        reject(new Error(`client worker did not answer ${body.type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(rid, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.send({ rid, body } satisfies Envelope<InitMsg | Request>);
    });
  }
}

export class ClientPool {
  private readonly workers: WorkerHandle[] = [];

  get pids(): number[] {
    return this.workers.map((w) => w.child.pid!);
  }

  /** Forks `n` workers and gives worker k the clients k, k+n, k+2n, … */
  async start(
    specs: ClientSpec[],
    n: number,
    marker: string,
    connectRate: number,
    connectTimeoutMs: number,
  ): Promise<number[]> {
    const offsets: number[] = [];
    for (let k = 0; k < n; k++) {
      const mine = specs.filter((_, i) => i % n === k);
      const child = fork(WORKER, [], {
        serialization: 'advanced',
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        execArgv: ['--max-old-space-size=4096'],
      });
      const w = new WorkerHandle(child, mine);
      this.workers.push(w);
      const r = await w.ask({
        type: 'init',
        marker,
        clients: mine,
        connectRate: connectRate / n,
        connectTimeoutMs,
      });
      if (r.type === 'ready') offsets.push(r.clockUs - nowUs());
    }
    return offsets;
  }

  private async all(req: Request, timeoutMs?: number): Promise<Reply[]> {
    return Promise.all(this.workers.map((w) => w.ask(req, timeoutMs)));
  }

  async connect(): Promise<void> {
    await this.all({ type: 'connect' });
  }

  async status(): Promise<WorkerStatus> {
    const total: WorkerStatus = {
      pending: 0,
      open: 0,
      failed: 0,
      closedAfterOpen: 0,
      warmed: 0,
      receivedMain: 0,
      rampDone: true,
    };
    for (const r of await this.all({ type: 'status' })) {
      if (r.type !== 'status') continue;
      const s = r.status;
      total.pending += s.pending;
      total.open += s.open;
      total.failed += s.failed;
      total.closedAfterOpen += s.closedAfterOpen;
      total.warmed += s.warmed;
      total.receivedMain += s.receivedMain;
      total.rampDone &&= s.rampDone;
    }
    return total;
  }

  async notWarmed(): Promise<number[]> {
    const ids: number[] = [];
    for (const r of await this.all({ type: 'notWarmed' })) if (r.type === 'notWarmed') ids.push(...r.ids);
    return ids;
  }

  /** Marks the clients open now as measured; `resetLoop`: measure event-loop delay from here. */
  async publishStart(resetLoop: boolean): Promise<Set<number>> {
    const ids = new Set<number>();
    for (const r of await this.all({ type: 'publishStart', resetLoop }))
      if (r.type === 'publishStart') for (const i of r.openIds) ids.add(i);
    return ids;
  }

  /** Final per-worker results; `userSeqs` maps a client id to the seqs sent to its account. */
  async finish(masks: Uint32Array, userSeqsByClient: Map<number, Uint32Array>): Promise<WorkerResult[]> {
    const out: WorkerResult[] = [];
    await Promise.all(
      this.workers.map(async (w) => {
        const userSeqs = new Map<number, Uint32Array>();
        for (const c of w.clients) {
          const s = userSeqsByClient.get(c.id);
          if (s) userSeqs.set(c.id, s);
        }
        const expect: Expectations = { masks, userSeqs };
        const r = await w.ask({ type: 'finish', expect }, 120_000);
        if (r.type === 'finish') out.push(r.result);
      }),
    );
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(async (w) => {
        if (!w.alive) return;
        await w.ask({ type: 'close' }, 30_000).catch(() => {});
        const t = setTimeout(() => w.child.kill('SIGKILL'), 5000);
        await w.exited;
        clearTimeout(t);
      }),
    );
  }

  kill(): void {
    for (const w of this.workers) if (w.alive) w.child.kill('SIGKILL');
  }
}
