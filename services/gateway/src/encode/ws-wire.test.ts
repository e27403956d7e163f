import type { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import * as wsModule from 'ws';
import { wsTextFrame, wsTextPayload } from './ws-wire.js';

/** `ws` exports its frame reader at runtime; its type definitions leave it out. */
const { Receiver } = wsModule as unknown as { Receiver: new (opts: { isServer: boolean }) => Writable };

/** Decodes with `ws`'s own reader (the client side: it rejects masked frames from a server). */
function decode(frame: Buffer): Promise<{ text: string; isBinary: boolean }> {
  return new Promise((resolve, reject) => {
    const receiver = new Receiver({ isServer: false });
    receiver.on('message', (data: Buffer, isBinary: boolean) =>
      resolve({ text: data.toString('utf8'), isBinary }),
    );
    receiver.on('error', reject);
    receiver.write(frame);
  });
}

describe('wsTextFrame', () => {
  it.each([0, 1, 125, 126, 127, 65_535, 65_536, 200_000])('frames a %i-byte text message', async (n) => {
    const text = 'é'.repeat(Math.floor(n / 2)) + 'x'.repeat(n % 2);
    const payload = Buffer.from(text);
    expect(payload.length).toBe(n);
    const frame = wsTextFrame(payload);
    expect(frame[0]).toBe(0x81);
    expect(frame.length - payload.length).toBe(n < 126 ? 2 : n < 65_536 ? 4 : 10);
    expect(wsTextPayload(frame).equals(payload)).toBe(true);
    expect(await decode(frame)).toEqual({ text, isBinary: false });
  });
});
