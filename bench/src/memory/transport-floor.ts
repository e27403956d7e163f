/**
 * The floor under any Node gateway: memory per idle connection held by bare transports, with no
 * Sluice code at all, to tell what the gateway adds from what the runtime and libraries cost.
 *
 *   node --expose-gc --max-semi-space-size=8 bench/dist/memory/transport-floor.js KIND [COUNT]
 *
 * KIND: `net` (a TCP socket that received nothing), `net-read` (it read a request and wrote 200
 * bytes), `ws` (a `ws` WebSocket after the upgrade), `http-held` (a `node:http` request with no
 * response yet), `http-sse` (a `node:http` response with its headers and one chunk written, kept
 * open: an SSE stream inside `node:http`). Clients run in a child process. Prints one line: RSS
 * and V8 heap per connection after a full GC, above the reading before the clients connected.
 * (Fixed costs such as the young generation growing are spread over COUNT: compare kinds at the
 * same COUNT, and prefer a large one.)
 */
import { fork } from 'node:child_process';
import { createServer, request } from 'node:http';
import {
  type AddressInfo,
  connect,
  createServer as createNetServer,
  type Server,
  type Socket,
} from 'node:net';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { arg, settle } from './settle.js';

const KINDS = ['net', 'net-read', 'ws', 'http-held', 'http-sse'] as const;
type Kind = (typeof KINDS)[number];

const here = fileURLToPath(import.meta.url);
const kind = process.argv[2] as Kind;
const count = Number(process.argv[3] ?? 4000);
const keep: unknown[] = [];

function serve(): Server {
  switch (kind) {
    case 'net':
      return createNetServer((s) => keep.push(s));
    case 'net-read':
      return createNetServer((s) => {
        keep.push(s);
        s.once('data', () => s.write('x'.repeat(200)));
      });
    case 'ws': {
      const server = createServer();
      const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
      server.on('upgrade', (req, socket, head) =>
        wss.handleUpgrade(req, socket, head, (ws) => keep.push(ws)),
      );
      return server;
    }
    case 'http-held':
      return createServer((_req, res) => keep.push(res));
    case 'http-sse':
      return createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(':)\n');
        keep.push(res);
      });
  }
}

/** Child: opens `count` connections of `kind` to `port` and says so once all are open. */
function clients(port: number): void {
  let open = 0;
  let started = 0;
  const done = () => {
    open++;
    if (open === count) process.send!('open');
    else next();
  };
  const next = () => {
    while (started < count && started - open < 200) {
      started++;
      if (kind === 'ws') {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
        ws.once('open', done);
        keep.push(ws);
      } else if (kind === 'http-sse') {
        const req = request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
          res.resume();
          done();
        });
        req.end();
        keep.push(req);
      } else {
        const s: Socket = connect(port, '127.0.0.1', () => {
          if (kind !== 'net') s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
          done();
        });
        keep.push(s);
      }
    }
  };
  next();
}

async function main(): Promise<void> {
  if (!KINDS.includes(kind)) throw new Error(`KIND is one of ${KINDS.join(', ')}`);
  const server = serve();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const before = await settle();
  const port = (server.address() as AddressInfo).port;
  const child = fork(here, [kind, String(count), '--port', String(port)]);
  await new Promise((r) => child.once('message', r));
  // A held `node:http` request is handled once its head is parsed: give the last ones a moment.
  const after = await settle();
  const per = (a: number, b: number) => ((a - b) / count / 1024).toFixed(2);
  console.log(
    `transport-floor ${kind}: ${per(after.rss, before.rss)} KB RSS, ${per(after.heapUsed, before.heapUsed)} KB heap per connection (${count})`,
  );
  child.kill();
  process.exit(0);
}

const port = arg('port');
if (port !== undefined) clients(Number(port));
else void main();
