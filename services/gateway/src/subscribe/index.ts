/** Stage `subscribe`: per-pod subject refcounts, hub, interest, subscriptions, SSE resume. */
export type { Bus, BusMessage, BusSubscription } from './bus.js';
export { MemoryBus, MemoryHeaders } from './bus-memory.js';
export { NatsBus } from './bus-nats.js';
export { GapRepair, type GapRepairOptions, type GapRepairResult } from './gap-repair.js';
export { Hub } from './hub.js';
export { InterestAnnouncer, type InterestOptions } from './interest.js';
export {
  type GapReader,
  type GapScan,
  mergeBySequence,
  type ReplaySource,
  type StoredEvent,
} from './replay.js';
export { JetStreamReplay } from './replay-jetstream.js';
export { MemoryReplay } from './replay-memory.js';
export { type ResumeResult, Resumer } from './resume.js';
export { type GapTarget, SubjectRegistry, type SubjectRegistryOptions } from './subject-registry.js';
export { Subscriber, type SubscriberOptions } from './subscriber.js';
