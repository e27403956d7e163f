/**
 * Channel → the local subscriptions that receive it. Its sets are what the pipeline iterates per
 * event; a channel's set appears with its first subscription and goes with its last, which is
 * when the subject registry subscribes and unsubscribes the bus.
 */
import type { Subscription } from '../model.js';
import type { SubjectRegistry } from './subject-registry.js';

export class Hub {
  private readonly byChannel = new Map<string, Set<Subscription>>();

  constructor(private readonly registry: SubjectRegistry) {}

  add(sub: Subscription): void {
    for (const channel of sub.channels) {
      let set = this.byChannel.get(channel);
      if (!set) {
        set = new Set();
        this.byChannel.set(channel, set);
        this.registry.acquire(channel);
      }
      set.add(sub);
    }
  }

  remove(sub: Subscription): void {
    for (const channel of sub.channels) {
      const set = this.byChannel.get(channel);
      if (!set?.delete(sub)) continue;
      if (set.size === 0) {
        this.byChannel.delete(channel);
        this.registry.release(channel);
      }
    }
  }

  recipients(channel: string): ReadonlySet<Subscription> | undefined {
    return this.byChannel.get(channel);
  }

  get channelCount(): number {
    return this.byChannel.size;
  }
}
