/**
 * Feed-access settings (spec §5.6, §16 row 5): with `local_live_feed_access` /
 * `remote_live_feed_access` (public streams) or `*_topic_feed_access` (hashtag streams) set to
 * `disabled`, subscriptions still succeed but the affected statuses are dropped — unless the
 * user's role has `view_feeds` (0x100000). Settings are global rows; files run one at a time and
 * every test restores them (Fixtures.cleanup).
 */
import { describe, expect, it } from 'vitest';
import { SETTING_AUTHENTICATED, SETTING_DISABLED, VIEW_FEEDS } from '../harness/fixtures.js';
import { SSE, type Stack, sseHasId, startStack, statusJson, suffix, wsHasId } from './support.js';

async function localAndRemote(s: Stack) {
  const local = await s.fx.createAccount();
  const remote = await s.fx.createAccount({ domain: `remote-${suffix()}.example` });
  return { local, remote };
}

describe('gateway feed access', () => {
  it('feed access - local_live_feed_access disabled drops local statuses on public streams, keeps remote ones', async () => {
    const s = await startStack();
    await s.fx.setSetting('local_live_feed_access', SETTING_DISABLED);
    await s.fx.setSetting('remote_live_feed_access', SETTING_AUTHENTICATED);
    const u = await s.fx.createUser();
    const { local, remote } = await localAndRemote(s);
    const ws = await s.ws({ token: u.token });
    ws.subscribe('public');
    const sse = await s.sse({ path: `${SSE}/public`, token: u.token });
    expect(sse.status).toBe(200);
    await s.ready(ws, 'timeline:public');
    await s.ready(sse, 'timeline:public');

    const dropped = statusJson(local);
    const kept = statusJson(remote);
    await s.publish('timeline:public', 'update', dropped);
    await s.publish('timeline:public', 'update', kept);
    await ws.waitForEvent(wsHasId(kept.id));
    await sse.waitForEvent(sseHasId(kept.id));
    expect(ws.events(wsHasId(dropped.id))).toEqual([]);
    expect(sse.events.filter(sseHasId(dropped.id))).toEqual([]);
    // Deletes are not filtered.
    await s.publish('timeline:public', 'delete', dropped.id);
    await ws.waitForEvent((e) => e.event === 'delete' && e.payload === dropped.id);
  });

  it('feed access - a role with view_feeds sees everything despite disabled settings', async () => {
    const s = await startStack();
    await s.fx.setSetting('local_live_feed_access', SETTING_DISABLED);
    await s.fx.setSetting('remote_live_feed_access', SETTING_DISABLED);
    const role = await s.fx.createRole(VIEW_FEEDS | 0x1);
    const plainRole = await s.fx.createRole(0x10000);
    const viewer = await s.fx.createUser({ roleId: role });
    const plain = await s.fx.createUser({ roleId: plainRole });
    const { local, remote } = await localAndRemote(s);
    const v = await s.ws({ token: viewer.token });
    const p = await s.ws({ token: plain.token });
    v.subscribe('public:local');
    v.subscribe('public:remote');
    p.subscribe('public:local');
    p.subscribe('public:remote');
    for (const c of [v, p]) {
      await s.ready(c, 'timeline:public:local');
      await s.ready(c, 'timeline:public:remote');
    }
    const l = statusJson(local);
    const r = statusJson(remote);
    await s.publish('timeline:public:local', 'update', l);
    await s.publish('timeline:public:remote', 'update', r);
    await v.waitForEvent(wsHasId(l.id));
    await v.waitForEvent(wsHasId(r.id));
    // The plain user gets neither: a later marker on each channel proves they were dropped, not late.
    const m1 = `m${suffix()}`;
    const m2 = `m${suffix()}`;
    await s.publish('timeline:public:local', 'delete', m1);
    await s.publish('timeline:public:remote', 'delete', m2);
    await p.waitForEvent((e) => e.payload === m1);
    await p.waitForEvent((e) => e.payload === m2);
    expect(p.events(wsHasId(l.id))).toEqual([]);
    expect(p.events(wsHasId(r.id))).toEqual([]);
  });

  it('feed access - remote_topic_feed_access disabled drops remote statuses on hashtag streams only', async () => {
    const s = await startStack();
    await s.fx.setSetting('remote_topic_feed_access', SETTING_DISABLED);
    await s.fx.setSetting('local_live_feed_access', null);
    await s.fx.setSetting('remote_live_feed_access', null);
    const u = await s.fx.createUser();
    const { local, remote } = await localAndRemote(s);
    const x = suffix();
    const ws = await s.ws({ token: u.token });
    ws.subscribe('hashtag', { tag: x });
    ws.subscribe('public');
    await s.ready(ws, `timeline:hashtag:${x}`);
    await s.ready(ws, 'timeline:public');
    const rTag = statusJson(remote, { tags: [x] });
    const lTag = statusJson(local, { tags: [x] });
    const rPub = statusJson(remote);
    await s.publish(`timeline:hashtag:${x}`, 'update', rTag);
    await s.publish(`timeline:hashtag:${x}`, 'update', lTag);
    await s.publish('timeline:public', 'update', rPub);
    await ws.waitForEvent(wsHasId(lTag.id));
    await ws.waitForEvent(wsHasId(rPub.id));
    expect(ws.events(wsHasId(rTag.id))).toEqual([]);
  });
});
