/**
 * The bus seam: how a gateway receives events and announces interest. `bus-nats.ts` uses core
 * NATS (the stream's RePublish targets); `bus-memory.ts` delivers synchronously, for tests.
 */
import type { HeaderSource } from '@sluice/shared';

export interface BusMessage {
  readonly data: Uint8Array;
  readonly headers?: HeaderSource | undefined;
}

export interface BusSubscription {
  unsubscribe(): void;
}

export interface Bus {
  /**
   * One subscription on a subject, NATS wildcards allowed; `onMessage` runs synchronously per
   * message, with the subject it was published on.
   */
  subscribe(subject: string, onMessage: (msg: BusMessage, subject: string) => void): BusSubscription;
  publish(subject: string, data: Uint8Array): void;
  /** Resolves once the server has processed everything sent so far (subscriptions included). */
  flush(): Promise<void>;
  isConnected(): boolean;
  /**
   * Called when the connection drops, before anything of the next connection arrives (what is
   * published meanwhile is lost: `gap-repair.ts` fetches it again).
   */
  onDisconnect(listener: () => void): void;
  /** Called after each reconnect (subscriptions are restored by the client). */
  onReconnect(listener: () => void): void;
}
