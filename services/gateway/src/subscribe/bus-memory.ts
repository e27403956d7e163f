import { type HeaderSource, subjectMatches } from '@sluice/shared';
import type { Bus, BusMessage, BusSubscription } from './bus.js';

/** Plain-map headers, shaped like nats.js `MsgHdrs` for `readEnvelope`. */
export class MemoryHeaders implements HeaderSource {
  private readonly map: Map<string, string>;
  constructor(init: Record<string, string> = {}) {
    this.map = new Map(Object.entries(init).map(([k, v]) => [k.toLowerCase(), v]));
  }
  get(name: string): string {
    return this.map.get(name.toLowerCase()) ?? '';
  }
  has(name: string): boolean {
    return this.map.has(name.toLowerCase());
  }
  set(name: string, value: string): void {
    this.map.set(name.toLowerCase(), value);
  }
  /** A copy with `extra` set as well. */
  with(extra: Record<string, string>): MemoryHeaders {
    return new MemoryHeaders({ ...Object.fromEntries(this.map), ...extra });
  }
}

/** An in-process bus: synchronous delivery, records what was published. */
export class MemoryBus implements Bus {
  readonly published: { subject: string; data: Uint8Array }[] = [];
  connected = true;
  private readonly subs = new Map<string, Set<(msg: BusMessage, subject: string) => void>>();
  private readonly disconnectListeners: (() => void)[] = [];
  private readonly reconnectListeners: (() => void)[] = [];
  /** Total subscribe calls (tests check refcounting). */
  subscribeCalls = 0;

  subscribe(subject: string, onMessage: (msg: BusMessage, subject: string) => void): BusSubscription {
    this.subscribeCalls++;
    let set = this.subs.get(subject);
    if (!set) {
      set = new Set();
      this.subs.set(subject, set);
    }
    set.add(onMessage);
    return {
      unsubscribe: () => {
        set.delete(onMessage);
        if (set.size === 0 && this.subs.get(subject) === set) this.subs.delete(subject);
      },
    };
  }

  publish(subject: string, data: Uint8Array): void {
    this.published.push({ subject, data });
    this.emit(subject, data);
  }

  /** Delivers a message to the subscribers of `subject`, as NATS would. */
  emit(subject: string, data: Uint8Array | string, headers?: Record<string, string> | HeaderSource): void {
    const targets = [...(this.subs.get(subject) ?? [])];
    for (const [filter, set] of this.subs) {
      if (filter !== subject && subjectMatches(filter, subject)) targets.push(...set);
    }
    if (targets.length === 0) return;
    const msg: BusMessage = {
      data: typeof data === 'string' ? Buffer.from(data) : data,
      headers:
        headers === undefined
          ? undefined
          : headers instanceof MemoryHeaders
            ? headers
            : isSource(headers)
              ? headers
              : new MemoryHeaders(headers),
    };
    for (const cb of targets) cb(msg, subject);
  }

  subjects(): string[] {
    return [...this.subs.keys()];
  }

  async flush(): Promise<void> {}

  isConnected(): boolean {
    return this.connected;
  }

  onDisconnect(listener: () => void): void {
    this.disconnectListeners.push(listener);
  }

  onReconnect(listener: () => void): void {
    this.reconnectListeners.push(listener);
  }

  /** The connection drops (tests then record lost events in the replay only, without `emit`). */
  disconnect(): void {
    this.connected = false;
    for (const l of this.disconnectListeners) l();
  }

  reconnect(): void {
    this.connected = true;
    for (const l of this.reconnectListeners) l();
  }
}

function isSource(h: Record<string, string> | HeaderSource): h is HeaderSource {
  return typeof (h as HeaderSource).get === 'function' && typeof (h as HeaderSource).has === 'function';
}
