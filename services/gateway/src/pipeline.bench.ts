import { channelToSubject } from '@sluice/shared';
import { bench, describe } from 'vitest';
import { MemoryHeaders } from './subscribe/index.js';
import { auth, PREFIX, pipelineHarness } from './testing.js';
import { MemorySink } from './write/index.js';

function setup(recipients: number) {
  const { bus, connections, subscriber } = pipelineHarness({ sendBufferBytes: 1 << 30 });
  const options = { needsFiltering: true, filterLocal: false, filterRemote: false, allowLocalOnly: true };
  for (let i = 0; i < recipients; i++) {
    const sink = new MemorySink('websocket');
    sink.write = () => {};
    const conn = connections.create(sink, auth({ chosenLanguages: i % 3 === 0 ? ['en'] : null }), 'r');
    connections.add(conn);
    subscriber.attach(conn, {
      name: 'public:local',
      channels: ['timeline:public:local'],
      options,
      labelJson: '["public:local"]',
    });
  }
  const subject = channelToSubject(PREFIX, 'ev', 'timeline:public:local');
  const payload = Buffer.from(
    JSON.stringify({ id: '1', content: `<p>${'x'.repeat(2000)}</p>`, account: { acct: 'a' } }),
  );
  const headers = new MemoryHeaders({
    'Sluice-Event': 'update',
    'Sluice-Local': '1',
    'Sluice-Lang': 'en',
    'Nats-Sequence': '1',
  });
  return () => bus.emit(subject, payload, headers);
}

describe('pipeline - fan-out of one 2 KB status', () => {
  for (const n of [1, 100, 1000]) {
    const run = setup(n);
    bench(`${n} recipients`, run);
  }
});
