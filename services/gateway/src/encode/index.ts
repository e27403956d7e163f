/** Stage `encode`: SSE and WebSocket frames, once per event per pod per variant. */
export { EventFrames, labelJson, sseFrame, wsErrorFrame, wsFrame } from './frames.js';
export { httpChunk } from './http-chunk.js';
export { wsTextFrame, wsTextPayload } from './ws-wire.js';
