/**
 * Channel → the local subscriptions that receive it. Its sets are what the pipeline iterates per
 * event; a channel's entry appears with its first subscription and goes with its last, which is
 * when the subject registry subscribes and unsubscribes the bus.
 *
 * Most channels have one subscription (a user's home and notifications, the two system channels
 * of every connection: four per idle `user` connection), and a one-element `Set` costs ~150 bytes
 * of heap. So a lone subscription is kept as is, and becomes a `Set` with the second one;
 * `recipients` wraps a lone one in a fresh one-element set per event instead (personal events are
 * a few per account per minute; idle connections are many).
 */
import type { Subscription } from '../model.js';
import type { SubjectRegistry } from './subject-registry.js';

export class Hub {
  private readonly byChannel = new Map<string, Subscription | Set<Subscription>>();

  constructor(private readonly registry: SubjectRegistry) {}

  add(sub: Subscription): void {
    for (const channel of sub.channels) {
      const held = this.byChannel.get(channel);
      if (held === undefined) {
        this.byChannel.set(channel, sub);
        this.registry.acquire(channel);
      } else if (held instanceof Set) {
        held.add(sub);
      } else if (held !== sub) {
        this.byChannel.set(channel, new Set([held, sub]));
      }
    }
  }

  remove(sub: Subscription): void {
    for (const channel of sub.channels) {
      const held = this.byChannel.get(channel);
      if (held === undefined) continue;
      if (held instanceof Set) {
        if (!held.delete(sub)) continue;
        // Back to a lone subscription: the set's memory goes with it.
        if (held.size === 1) this.byChannel.set(channel, held.values().next().value!);
        continue;
      }
      if (held !== sub) continue;
      this.byChannel.delete(channel);
      this.registry.release(channel);
    }
  }

  recipients(channel: string): ReadonlySet<Subscription> | undefined {
    const held = this.byChannel.get(channel);
    if (held === undefined || held instanceof Set) return held;
    return new Set([held]);
  }

  get channelCount(): number {
    return this.byChannel.size;
  }
}
