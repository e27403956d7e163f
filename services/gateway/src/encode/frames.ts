/**
 * Frames, built once per event per pod (DESIGN decision 6): one SSE frame, and one WebSocket
 * frame per distinct `stream` label. Every recipient gets the same Buffer.
 *
 * SSE (spec §3.3, plus Sluice's `id:`): `id: <seq>\nevent: <name>\ndata: <payload>\n\n`.
 * WebSocket (spec §4.4): `{"stream":[…],"event":"…","payload":"<string>"}`, keys in that order,
 * the payload always a JSON string (the SSE data text, JSON-escaped).
 */

const END = Buffer.from('\n\n');

export function sseFrame(event: string, data: Uint8Array, seq: number | null): Buffer {
  const head = seq === null ? `event: ${event}\ndata: ` : `id: ${seq}\nevent: ${event}\ndata: `;
  return Buffer.concat([Buffer.from(head), data, END]);
}

export function wsFrame(labelJson: string, eventJson: string, payloadJson: string): Buffer {
  return Buffer.from(`{"stream":${labelJson},"event":${eventJson},"payload":${payloadJson}}`);
}

/** `{"error":…,"status":…}`, or `{"error":…}` when there is no status (unsubscribe errors). */
export function wsErrorFrame(message: string, status?: number): Buffer {
  return Buffer.from(JSON.stringify(status === undefined ? { error: message } : { error: message, status }));
}

const plainLabels = new Map<string, string>();

/**
 * The WebSocket `stream` label as JSON, once per subscription; `[name]` labels (a dozen stream
 * names) are shared by every subscription.
 */
export function labelJson(label: readonly unknown[]): string {
  if (label.length !== 1 || typeof label[0] !== 'string') return JSON.stringify(label);
  let json = plainLabels.get(label[0]);
  if (json === undefined) {
    json = JSON.stringify(label);
    if (plainLabels.size < 64) plainLabels.set(label[0], json);
  }
  return json;
}

/** Lazily built, cached frames of one event payload. */
export class EventFrames {
  private sseBuf: Buffer | undefined;
  private eventJson: string | undefined;
  private payloadJson: string | undefined;
  private lastLabel: string | undefined;
  private lastWs: Buffer | undefined;
  private byLabel: Map<string, Buffer> | undefined;
  /** How many frames were encoded (tests and benchmarks check it stays per label, not per client). */
  built = 0;

  constructor(
    readonly event: string,
    readonly data: Uint8Array,
    readonly seq: number | null,
  ) {}

  sse(): Buffer {
    if (this.sseBuf === undefined) {
      this.sseBuf = sseFrame(this.event, this.data, this.seq);
      this.built++;
    }
    return this.sseBuf;
  }

  ws(label: string): Buffer {
    // Most events reach one label (every `public:local` client shares `["public:local"]`).
    if (label === this.lastLabel) return this.lastWs!;
    let frame = this.byLabel?.get(label);
    if (frame === undefined) {
      this.eventJson ??= JSON.stringify(this.event);
      this.payloadJson ??= JSON.stringify(
        Buffer.from(this.data.buffer, this.data.byteOffset, this.data.byteLength).toString('utf8'),
      );
      frame = wsFrame(label, this.eventJson, this.payloadJson);
      this.built++;
      if (this.lastLabel !== undefined) {
        this.byLabel ??= new Map();
        this.byLabel.set(this.lastLabel, this.lastWs!);
        this.byLabel.set(label, frame);
      }
    }
    this.lastLabel = label;
    this.lastWs = frame;
    return frame;
  }
}
