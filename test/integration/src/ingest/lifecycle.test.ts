/** Process lifecycle: start-up log, clean exit on SIGTERM, refusal of an invalid setting. */
import { describe, expect, it } from 'vitest';
import { startService, testScope, withTimeout } from '../harness/index.js';
import { startIngest } from './helpers.js';

describe('ingest: process lifecycle', () => {
  it('logs where it listens, and exits 0 on SIGTERM', async () => {
    const scope = testScope();
    const ingest = await startIngest(scope);
    const line = await ingest.waitForLog(/listening on/i, 5000);
    expect(line).toContain(String(ingest.port));
    expect((await ingest.get('/livez')).status).toBe(200);
    expect(await ingest.stop('SIGTERM', 15_000)).toBe(0);
    expect(ingest.running).toBe(false);
  });

  it('refuses to start with an invalid setting, naming the variable', async () => {
    const scope = testScope();
    const ingest = await startService('ingest', { ...scope.env, SLUICE_INGEST_BUFFER_MESSAGES: 'lots' });
    const exit = await withTimeout(ingest.exited, 10_000, 'ingest to exit');
    expect(exit.code).not.toBe(0);
    expect(ingest.logs.join('\n')).toContain('SLUICE_INGEST_BUFFER_MESSAGES');
  });
});
