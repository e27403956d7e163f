/** Stage `write`: connection state, sinks, bounded send buffers, keep-alive, drain. */
export { Connection, type ConnectionOwner, type HeldFrame } from './connection.js';
export { type CloseReason, Connections, type ConnectionsOptions } from './connections.js';
export { type SpreadOptions, spreadClose } from './drain.js';
export { type PaceOptions, sendPaced } from './pace.js';
export type { EndReason, Sink } from './sink.js';
export { MemorySink } from './sink-memory.js';
export { SseSink } from './sink-sse.js';
export { WsSink } from './sink-ws.js';
export { StreamSet } from './stream-set.js';
export { TurnCork } from './turn-cork.js';
