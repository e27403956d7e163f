import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '@sluice/shared';
import type { Bus, BusMessage, BusSubscription } from './bus.js';

/**
 * Core NATS: callback subscriptions (delivery is synchronous, nothing piles up in an async
 * iterator), one per subject. The client re-subscribes by itself after a reconnect.
 */
export class NatsBus implements Bus {
  private connected = true;
  private readonly disconnectListeners: (() => void)[] = [];
  private readonly reconnectListeners: (() => void)[] = [];

  constructor(
    private readonly nc: NatsConnection,
    private readonly logger: Logger,
    private readonly onConnectedChange?: (up: boolean) => void,
  ) {
    void this.watch();
  }

  subscribe(subject: string, onMessage: (msg: BusMessage, subject: string) => void): BusSubscription {
    return this.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) {
          this.logger.error({ err, subject }, `Error subscribing to ${subject}`);
          return;
        }
        onMessage(msg, msg.subject);
      },
    });
  }

  publish(subject: string, data: Uint8Array): void {
    this.nc.publish(subject, data);
  }

  flush(): Promise<void> {
    return this.nc.flush();
  }

  isConnected(): boolean {
    return this.connected && !this.nc.isClosed();
  }

  onDisconnect(listener: () => void): void {
    this.disconnectListeners.push(listener);
  }

  onReconnect(listener: () => void): void {
    this.reconnectListeners.push(listener);
  }

  private async watch(): Promise<void> {
    this.onConnectedChange?.(true);
    for await (const s of this.nc.status()) {
      if (s.type === 'disconnect') {
        this.connected = false;
        this.onConnectedChange?.(false);
        this.logger.warn({ server: s.server }, 'NATS disconnected');
        for (const l of this.disconnectListeners) l();
      } else if (s.type === 'reconnect') {
        this.connected = true;
        this.onConnectedChange?.(true);
        this.logger.info({ server: s.server }, 'NATS reconnected');
        for (const l of this.reconnectListeners) l();
      } else if (s.type === 'ldm') {
        this.logger.info('NATS server entering lame duck mode');
      } else if (s.type === 'error') {
        this.logger.error({ err: s.error }, 'NATS error');
      }
    }
    this.connected = false;
    this.onConnectedChange?.(false);
  }
}
