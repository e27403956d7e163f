/**
 * A TCP proxy between one service and a server (e.g. a gateway and NATS), to cut that service's
 * connection without stopping the server for everybody else: `cut()` drops every proxied
 * connection and refuses new ones until `restore()`. Closed after the test.
 */
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { onCleanup } from './cleanup.js';
import { Recorder } from './clients.js';

export interface ProxyTarget {
  host: string;
  port: number;
}

export class TcpProxy {
  private readonly pairs = new Set<readonly [Socket, Socket]>();
  private refusing = false;
  /** One item (the time) per connection proxied to the target; await with `waitFor`. */
  readonly accepted = new Recorder<number>(String);
  /** Connection attempts refused while cut. */
  refused = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly target: ProxyTarget,
  ) {}

  /** Listens on a free loopback port and forwards every connection to `target`. */
  static async start(target: ProxyTarget): Promise<TcpProxy> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const proxy = new TcpProxy(server, (server.address() as AddressInfo).port, target);
    server.on('connection', (client) => proxy.accept(client));
    onCleanup(() => proxy.close());
    return proxy;
  }

  /** `<scheme>://127.0.0.1:<port>`, e.g. a `NATS_URL`. */
  url(scheme = 'nats'): string {
    return `${scheme}://127.0.0.1:${this.port}`;
  }

  /** Connections currently proxied. */
  get open(): number {
    return this.pairs.size;
  }

  /** Drops every proxied connection and refuses new ones until `restore()`. */
  cut(): void {
    this.refusing = true;
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  /** Accepts and proxies connections again. */
  restore(): void {
    this.refusing = false;
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    if (this.refusing) {
      this.refused++;
      client.destroy();
      return;
    }
    const upstream = connect(this.target.port, this.target.host);
    const pair = [client, upstream] as const;
    this.pairs.add(pair);
    const drop = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of pair) {
      s.setNoDelay(true);
      s.on('error', drop);
      s.on('close', drop);
    }
    client.pipe(upstream);
    upstream.pipe(client);
    this.accepted.push(Date.now());
  }
}
