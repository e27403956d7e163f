/**
 * Wire bytes by message: every recipient of an event is handed the same message Buffer (built
 * once per event and label, see `encode/frames.ts`), so the transport's framing of it (a
 * WebSocket frame header, an HTTP chunk) is built once too and shared by every socket. The last
 * message is kept apart because consecutive writes are nearly always the same one.
 */
export class WireCache {
  private readonly byMessage = new WeakMap<Buffer, Buffer>();
  private lastMessage: Buffer | undefined;
  private lastWire: Buffer | undefined;

  constructor(private readonly encode: (message: Buffer) => Buffer) {}

  get(message: Buffer): Buffer {
    if (message === this.lastMessage) return this.lastWire!;
    let wire = this.byMessage.get(message);
    if (wire === undefined) {
      wire = this.encode(message);
      this.byMessage.set(message, wire);
    }
    this.lastMessage = message;
    this.lastWire = wire;
    return wire;
  }
}
