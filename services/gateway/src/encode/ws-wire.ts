/**
 * A WebSocket text message as it goes on the wire (RFC 6455 §5.2): FIN + text opcode, the
 * payload length, no mask (server frames are never masked), no compression (the server does not
 * offer permessage-deflate). Built once per event and label, then written as-is to every
 * recipient's socket, instead of `ws` building a header and a two-buffer write per recipient.
 */
export function wsTextFrame(payload: Uint8Array): Buffer {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 0x10000 ? 4 : 10;
  const frame = Buffer.allocUnsafe(head + n);
  frame[0] = 0x81;
  if (n < 126) {
    frame[1] = n;
  } else if (n < 0x10000) {
    frame[1] = 126;
    frame.writeUInt16BE(n, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(n / 0x1_0000_0000), 2);
    frame.writeUInt32BE(n >>> 0, 6);
  }
  frame.set(payload, head);
  return frame;
}

/** The payload of a frame built by {@link wsTextFrame} (tests, and sinks that record messages). */
export function wsTextPayload(frame: Buffer): Buffer {
  const len7 = frame[1]! & 0x7f;
  const head = len7 < 126 ? 2 : len7 === 126 ? 4 : 10;
  return frame.subarray(head);
}
