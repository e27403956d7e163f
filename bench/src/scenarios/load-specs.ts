/**
 * Who the clients of a load scenario are: stream and transport per client (interleaved by
 * weight), hashtag, token, gateway port, source address, and what they should receive.
 */
import type { ClientSpec, StreamName, Transport } from '../clients/protocol.js';
import type { FixtureSet } from '../fixtures/fixtures.js';
import type { Publisher, Recipient } from '../publish/publisher.js';
import type { LoadScenario } from './catalog.js';
import type { Stack } from './stack.js';

export const TAGS = ['bench', 'fediverse', 'photography', 'mastodev', '猫'];
/** Connections per loopback source address before moving to the next one. */
const PER_SOURCE = 15_000;

/** Longest wait for late deliveries after publishing ends. */
export function maxDrainMs(sc: LoadScenario): number {
  return Math.max(30, 2 * sc.durationS) * 1000;
}

/** Smooth weighted round robin: a deterministic, evenly interleaved assignment. */
export function interleave<T extends string>(weights: Partial<Record<T, number>>, count: number): T[] {
  const keys = (Object.entries(weights) as [T, number][]).filter(([, w]) => w > 0);
  const total = keys.reduce((a, [, w]) => a + w, 0);
  const cur = keys.map(() => 0);
  const out: T[] = [];
  for (let i = 0; i < count; i++) {
    let best = 0;
    for (let k = 0; k < keys.length; k++) {
      cur[k]! += keys[k]![1];
      if (cur[k]! > cur[best]!) best = k;
    }
    cur[best]! -= total;
    out.push(keys[best]![0]);
  }
  return out;
}

export function buildSpecs(
  sc: LoadScenario,
  clients: number,
  fx: FixtureSet,
  stack: Stack,
  publisher: Publisher,
): { specs: ClientSpec[]; recipientOf: Map<number, number> } {
  const streams = interleave<StreamName>(sc.streams, clients);
  const transports = interleave<Transport>(sc.transports, clients);
  const sources = Math.ceil(clients / PER_SOURCE);
  const specs: ClientSpec[] = [];
  const recipientOf = new Map<number, number>();
  let recipients = 0;
  let tagCursor = 0;
  for (let i = 0; i < clients; i++) {
    const stream = streams[i]!;
    const user = fx.users[i]!;
    const spec: ClientSpec = {
      id: i,
      transport: transports[i]!,
      stream,
      token: user.token,
      port: stack.gateways[i % stack.gateways.length]!.port,
      bit: 0,
      recipient: -1,
    };
    if (sources > 1) spec.localAddress = `127.0.0.${1 + (i % sources)}`;
    if (stream === 'user') {
      spec.recipient = recipients++;
      recipientOf.set(spec.recipient, i);
    } else {
      const k = tagCursor % TAGS.length;
      if (stream === 'hashtag') {
        tagCursor++;
        // Every other client sends the tag capitalised: the gateway must normalise it.
        const t = TAGS[k]!;
        spec.tag = tagCursor % 2 === 0 ? t : t.charAt(0).toUpperCase() + t.slice(1);
      }
      spec.bit = publisher.sharedChannel(stream, k).bit;
    }
    specs.push(spec);
  }
  return { specs, recipientOf };
}

export function recipientsOf(sc: LoadScenario, clients: number, fx: FixtureSet): Recipient[] {
  const streams = interleave<StreamName>(sc.streams, clients);
  const out: Recipient[] = [];
  for (let i = 0; i < clients; i++) {
    if (streams[i] === 'user')
      out.push({ accountId: fx.users[i]!.accountId, username: fx.users[i]!.username });
  }
  return out;
}
