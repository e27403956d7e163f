/**
 * Publishes statuses into Redis the way Rails does (FanOutOnWriteService, PushUpdateWorker,
 * NotifyService): each status to its hashtag channels, `timeline:public`, `timeline:public:local`
 * or `:remote`, the `:media` variants when it has media; a personalised copy to a few home
 * timelines and a `mention` notification to one reader — those two only where the
 * `subscribed:timeline:<id>` key exists, as Rails checks. It remembers which payload went where
 * (`masks`, `userSeqs`) so each client's expected events can be computed afterwards.
 */
import { normalizeHashtag } from '@sluice/shared';
import type { ChainableCommander, Redis } from 'ioredis';
import type { Author } from '../fixtures/fixtures.js';
import {
  type MarkKind,
  notificationMessage,
  nowUs,
  prng,
  type StatusInput,
  UpdateTemplates,
  updateMessage,
} from './status.js';

/** Bits of `masks[seq]`: the shared channels a payload was published to. */
export const BIT = {
  public: 1 << 0,
  local: 1 << 1,
  remote: 1 << 2,
  media: 1 << 3,
  localMedia: 1 << 4,
  remoteMedia: 1 << 5,
} as const;
export const MAX_TAGS = 20;
/** Messages published but not yet acknowledged by Redis (bounds the generator's memory). */
const MAX_IN_FLIGHT = 20_000;
export const tagBit = (k: number): number => 1 << (6 + k);

export interface Recipient {
  accountId: string;
  username: string;
}

export interface PublisherOptions {
  run: string;
  /** `REDIS_NAMESPACE` + ':' or ''. */
  prefix: string;
  authors: Author[];
  /** Hashtag names as written in statuses. */
  tags: string[];
  /** Readers of the `user` stream: home and notification targets. */
  recipients: Recipient[];
  /** Home timelines each status is pushed to. */
  homeFanout: number;
  mediaShare: number;
  seed?: number;
}

export interface PublishCounters {
  statuses: number;
  messages: number;
  bytes: number;
  homePushes: number;
  notifications: number;
  /** Home pushes / notifications Rails would skip: no `subscribed:timeline:<id>` key. */
  homeSkippedNoKey: number;
  notificationsSkippedNoKey: number;
  warmupMessages: number;
  errors: number;
}

export class Publisher {
  /** masks[seq]: BIT/tagBit of the shared channels payload `seq` went to (0: personal only). */
  readonly masks: number[] = [0];
  /** Per recipient index: the seqs of the personal payloads published to it. */
  readonly userSeqs = new Map<number, number[]>();
  readonly counters: PublishCounters = {
    statuses: 0,
    messages: 0,
    bytes: 0,
    homePushes: 0,
    notifications: 0,
    homeSkippedNoKey: 0,
    notificationsSkippedNoKey: 0,
    warmupMessages: 0,
    errors: 0,
  };
  /** Recipient indexes whose `subscribed:timeline:<id>` key exists (refreshKeys). */
  subscribed = new Set<number>();
  private readonly rand: () => number;
  private readonly tagChannels: string[];
  private nextSeq = 1;
  private warmSeq = 1;
  private homeCursor = 0;
  private notifyCursor = 0;
  private batch: ChainableCommander | null = null;
  private inFlight = 0;
  private readonly waiters: (() => void)[] = [];
  lastError: string | null = null;
  private templates: UpdateTemplates | null = null;

  constructor(
    private readonly redis: Redis,
    private readonly o: PublisherOptions,
  ) {
    this.rand = prng(o.seed ?? 42);
    if (o.tags.length > MAX_TAGS) throw new Error(`at most ${MAX_TAGS} tags`);
    this.tagChannels = o.tags.map((t) => `timeline:hashtag:${normalizeHashtag(t)}`);
  }

  /** The channel a client of a shared stream listens to, and its bit. */
  sharedChannel(stream: string, tagIndex: number): { channel: string; bit: number } {
    switch (stream) {
      case 'public':
        return { channel: 'timeline:public', bit: BIT.public };
      case 'public:local':
        return { channel: 'timeline:public:local', bit: BIT.local };
      case 'public:remote':
        return { channel: 'timeline:public:remote', bit: BIT.remote };
      case 'hashtag':
        return { channel: this.tagChannels[tagIndex]!, bit: tagBit(tagIndex) };
      default:
        throw new Error(`not a shared stream: ${stream}`);
    }
  }

  /** Re-reads which recipients have a `subscribed:timeline:<id>` key (pipelined EXISTS). */
  async refreshKeys(): Promise<number> {
    const rs = this.o.recipients;
    if (rs.length === 0) return 0;
    const p = this.redis.pipeline();
    for (const r of rs) p.exists(`${this.o.prefix}subscribed:timeline:${r.accountId}`);
    const res = (await p.exec()) ?? [];
    const next = new Set<number>();
    res.forEach(([err, v], i) => {
      if (!err && v === 1) next.add(i);
    });
    this.subscribed = next;
    return next.size;
  }

  private pub(channel: string, message: string): void {
    if (!this.batch) this.batch = this.redis.pipeline();
    this.batch.publish(this.o.prefix + channel, message);
    this.counters.messages++;
    this.counters.bytes += message.length;
  }

  /**
   * Sends what was queued since the last flush as one pipeline. At most MAX_IN_FLIGHT messages
   * await Redis's replies: past that the schedule waits (the achieved rate then shows it).
   */
  async flush(): Promise<void> {
    const b = this.batch;
    this.batch = null;
    if (!b) return;
    const size = b.length;
    while (this.inFlight > 0 && this.inFlight + size > MAX_IN_FLIGHT) {
      await new Promise<void>((r) => this.waiters.push(r));
    }
    this.inFlight += size;
    b.exec()
      .then((res) => {
        for (const [err] of res ?? []) {
          if (err) {
            this.counters.errors++;
            this.lastError = err.message;
          }
        }
      })
      .catch((err: Error) => {
        this.counters.errors++;
        this.lastError = err.message;
      })
      .finally(() => {
        this.inFlight -= size;
        for (const w of this.waiters.splice(0)) w();
      });
  }

  async settle(): Promise<void> {
    await this.flush();
    while (this.inFlight > 0) await new Promise<void>((r) => this.waiters.push(r));
  }

  private pickAuthor(): Author {
    return this.o.authors[Math.floor(this.rand() * this.o.authors.length)]!;
  }

  private pickTags(): number[] {
    const n = this.o.tags.length;
    if (n === 0) return [];
    const a = Math.floor(this.rand() * n);
    if (this.rand() < 0.4 && n > 1) {
      const b = (a + 1 + Math.floor(this.rand() * (n - 1))) % n;
      return [a, b];
    }
    return [a];
  }

  /** One status with everything Rails would publish for it. */
  publishStatus(): void {
    const tsUs = nowUs();
    const author = this.pickAuthor();
    const tagIdx = this.pickTags();
    const media = this.rand() < this.o.mediaShare;
    const local = author.domain === null;
    const rs = this.o.recipients;
    const notifyIdx = rs.length > 0 ? this.notifyCursor++ % rs.length : -1;
    const mentioned = notifyIdx >= 0 ? rs[notifyIdx]! : null;
    const base: StatusInput = {
      run: this.o.run,
      kind: 's',
      seq: this.nextSeq++,
      tsUs,
      author,
      tags: tagIdx.map((k) => this.o.tags[k]!),
      media,
      mention: mentioned ? { id: mentioned.accountId, username: mentioned.username } : null,
      rand: this.rand,
    };
    this.counters.statuses++;
    const msg = updateMessage(base);
    let mask = 0;
    for (const k of tagIdx) {
      this.pub(this.tagChannels[k]!, msg);
      mask |= tagBit(k);
      if (local) this.pub(`${this.tagChannels[k]!}:local`, msg);
    }
    this.pub('timeline:public', msg);
    this.pub(local ? 'timeline:public:local' : 'timeline:public:remote', msg);
    mask |= BIT.public | (local ? BIT.local : BIT.remote);
    if (media) {
      this.pub('timeline:public:media', msg);
      this.pub(local ? 'timeline:public:local:media' : 'timeline:public:remote:media', msg);
      mask |= BIT.media | (local ? BIT.localMedia : BIT.remoteMedia);
    }
    this.masks[base.seq] = mask;

    // Home fan-out (PushUpdateWorker): one personalised payload, the same bytes to every follower.
    if (rs.length > 0 && this.o.homeFanout > 0) {
      const homeSeq = this.nextSeq++;
      this.masks[homeSeq] = 0;
      let homeMsg: string | null = null;
      for (let k = 0; k < Math.min(this.o.homeFanout, rs.length); k++) {
        const idx = this.homeCursor++ % rs.length;
        if (!this.subscribed.has(idx)) {
          this.counters.homeSkippedNoKey++;
          continue;
        }
        homeMsg ??= updateMessage({ ...base, seq: homeSeq, personalised: true });
        this.pub(`timeline:${rs[idx]!.accountId}`, homeMsg);
        this.record(idx, homeSeq);
        this.counters.homePushes++;
      }
    }
    // NotifyService: a mention notification to the mentioned reader.
    if (notifyIdx >= 0) {
      const nSeq = this.nextSeq++;
      this.masks[nSeq] = 0;
      if (this.subscribed.has(notifyIdx)) {
        this.pub(
          `timeline:${rs[notifyIdx]!.accountId}:notifications`,
          notificationMessage({ ...base, seq: nSeq }),
        );
        this.record(notifyIdx, nSeq);
        this.counters.notifications++;
      } else {
        this.counters.notificationsSkippedNoKey++;
      }
    }
  }

  private record(idx: number, seq: number): void {
    let l = this.userSeqs.get(idx);
    if (!l) {
      l = [];
      this.userSeqs.set(idx, l);
    }
    l.push(seq);
  }

  /**
   * Warm-up payloads (kind `w`, not counted): one to each shared channel given, and one to the
   * home timeline of each recipient given whose key exists. Returns the recipients skipped.
   */
  publishWarmup(channels: Iterable<string>, recipients: Iterable<number>): number {
    const input = (): StatusInput => ({
      run: this.o.run,
      kind: 'w',
      seq: this.warmSeq++,
      tsUs: nowUs(),
      author: this.pickAuthor(),
      tags: [],
      media: false,
      mention: null,
      rand: this.rand,
    });
    const msg = updateMessage(input());
    for (const ch of channels) {
      this.pub(ch, msg);
      this.counters.warmupMessages++;
    }
    let skipped = 0;
    let homeMsg: string | null = null;
    for (const idx of recipients) {
      if (!this.subscribed.has(idx)) {
        skipped++;
        continue;
      }
      homeMsg ??= updateMessage({ ...input(), personalised: true });
      this.pub(`timeline:${this.o.recipients[idx]!.accountId}`, homeMsg);
      this.counters.warmupMessages++;
    }
    return skipped;
  }

  /**
   * Calls `step` `rate` times per second for `durationMs`, evenly paced (open loop: a slow
   * Redis does not slow the schedule), flushing one pipeline per timer tick.
   */
  async paced(
    rate: number,
    durationMs: number,
    step: () => void,
  ): Promise<{ done: number; elapsedMs: number }> {
    const total = Math.floor((rate * durationMs) / 1000);
    const t0 = performance.now();
    let done = 0;
    while (done < total) {
      const elapsed = performance.now() - t0;
      const due = Math.min(total, Math.floor((elapsed * rate) / 1000) + 1);
      while (done < due) {
        step();
        done++;
      }
      await this.flush();
      const next = (done * 1000) / rate;
      const wait = next - (performance.now() - t0);
      if (wait > 0) await new Promise((r) => setTimeout(r, Math.max(1, Math.floor(wait))));
    }
    await this.settle();
    return { done, elapsedMs: performance.now() - t0 };
  }

  /** The next payload seq (= 1 + the last one used). */
  seqEnd(): number {
    return this.nextSeq;
  }

  /** Channel names for reports. */
  tagChannel(k: number): string {
    return this.tagChannels[k]!;
  }

  /** t5: one status to one channel, with its own seq and timestamp (from a template). */
  publishSingle(channel: string, kind: MarkKind = 's'): void {
    const seq = this.nextSeq++;
    this.templates ??= new UpdateTemplates(this.o.run, this.rand);
    const tags = channel.startsWith('timeline:hashtag:') ? [channel.split(':')[2]!] : [];
    const msg = this.templates.render(
      this.pickAuthor(),
      tags,
      this.rand() < this.o.mediaShare,
      kind,
      seq,
      nowUs(),
    );
    this.counters.statuses++;
    this.pub(channel, msg);
  }

  random(): number {
    return this.rand();
  }
}
