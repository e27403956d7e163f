import type { MessageHandler, MessageSource } from './source.js';

export class MemorySource implements MessageSource {
  private handler: MessageHandler | null = null;
  private isReady = false;

  async start(onMessage: MessageHandler): Promise<void> {
    this.handler = onMessage;
    this.isReady = true;
  }

  ready(): boolean {
    return this.isReady;
  }

  push(channel: string, raw: string | Buffer): void {
    this.handler?.(channel, typeof raw === 'string' ? Buffer.from(raw) : raw);
  }

  async close(): Promise<void> {
    this.isReady = false;
    this.handler = null;
  }
}
