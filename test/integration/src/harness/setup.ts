/**
 * Runs in every test file (vitest `setupFiles`). After each test: prints the services' last log
 * lines if it failed, kills the service processes it left running, starts again any server it
 * stopped, runs its registered clean-ups (e.g. deleting its stream), and closes its connections.
 */
import { afterAll, afterEach } from 'vitest';
import { runCleanups } from './cleanup.js';
import { ensureServersRunning } from './env.js';
import { closeAllNats } from './nats.js';
import { closeAllPg } from './postgres.js';
import { closeAllRedis } from './redis.js';
import { killAllServices, liveServices } from './service.js';

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') {
    for (const s of liveServices()) {
      const lines = s.logs
        .slice(-40)
        .map((l) => (l.length > 600 ? `${l.slice(0, 600)}… (${l.length} chars)` : l));
      console.error(`--- last log lines of ${s.kind} pid ${s.pid} (port ${s.port}):\n${lines.join('\n')}`);
      const metrics = await s.metrics().catch(() => null);
      if (metrics) {
        const nonZero = [...metrics.toMap()].filter(
          ([k, v]) => k.startsWith('sluice_') && !k.includes('_bucket') && v !== 0,
        );
        console.error(
          `--- sluice_* metrics of ${s.kind} pid ${s.pid}:\n${nonZero.map(([k, v]) => `${k} ${v}`).join('\n')}`,
        );
      }
    }
  }
  await killAllServices();
  await ensureServersRunning();
  const errors = await runCleanups();
  await closeAllNats();
  await closeAllRedis();
  await closeAllPg();
  if (errors.length > 0)
    throw new AggregateError(
      errors,
      `clean-up after the test failed: ${errors.map((e) => e.message).join('; ')}`,
    );
});

afterAll(async () => {
  await killAllServices();
  await ensureServersRunning();
});
