import type { Envelope, StatusFacts } from '@sluice/shared';
import { describe, expect, it } from 'vitest';
import type { AuthContext, StreamOptions, Subscription } from '../model.js';
import { auth } from '../testing.js';
import { type EventFilter, FilterChain, type FilterResult } from './filter.js';
import { MemoryRules } from './rules.js';

const facts = (over: Partial<StatusFacts> = {}): StatusFacts => ({
  accountId: '500',
  domain: null,
  mentions: [],
  language: 'en',
  local: true,
  media: false,
  filtered: false,
  localOnly: false,
  ...over,
});

const event = (name: string, status: StatusFacts | null = facts()): Envelope => ({
  event: name,
  data: Buffer.from('{}'),
  status,
  receivedAt: 0,
});

const OPEN: StreamOptions = {
  needsFiltering: true,
  filterLocal: false,
  filterRemote: false,
  allowLocalOnly: true,
};

function sub(options: Partial<StreamOptions> = {}, who: Partial<AuthContext> = {}): Subscription {
  return { options: { ...OPEN, ...options }, conn: { auth: auth(who) } } as unknown as Subscription;
}

const kept = (r: FilterResult) => [...r.deliver];

describe('filter - in-memory rules', () => {
  it('passes non-status events and unfiltered streams untouched', () => {
    const rules = new MemoryRules({ glitch: false });
    const recipients = new Set([
      sub({ filterLocal: true }),
      sub({ needsFiltering: false, filterLocal: true }),
    ]);
    expect(rules.apply({ channel: 'c', event: event('delete'), recipients }).deliver).toBe(recipients);
    const r = rules.apply({ channel: 'c', event: event('update'), recipients });
    expect(kept(r)).toHaveLength(1);
    expect(r.dropped).toBe(1);
  });

  it('drops local or remote statuses by feed access', () => {
    const rules = new MemoryRules({ glitch: false });
    const noLocal = sub({ filterLocal: true });
    const noRemote = sub({ filterRemote: true });
    const recipients = new Set([noLocal, noRemote]);
    expect(
      kept(rules.apply({ channel: 'c', event: event('update', facts({ local: true })), recipients })),
    ).toEqual([noRemote]);
    expect(
      kept(rules.apply({ channel: 'c', event: event('status.update', facts({ local: false })), recipients })),
    ).toEqual([noLocal]);
  });

  it('filters by chosen languages, including statuses without a language', () => {
    const rules = new MemoryRules({ glitch: false });
    const any = sub();
    const en = sub({}, { chosenLanguages: ['en'] });
    const de = sub({}, { chosenLanguages: ['de', 'fr'] });
    const recipients = new Set([any, en, de]);
    expect(
      kept(rules.apply({ channel: 'c', event: event('update', facts({ language: 'en' })), recipients })),
    ).toEqual([any, en]);
    expect(
      kept(rules.apply({ channel: 'c', event: event('update', facts({ language: null })), recipients })),
    ).toEqual([any]);
  });

  it('applies the glitch local_only rule to every stream, only when enabled', () => {
    const plain = new MemoryRules({ glitch: false });
    const glitch = new MemoryRules({ glitch: true });
    const allowed = sub({ allowLocalOnly: true, needsFiltering: false });
    const denied = sub({ allowLocalOnly: false, needsFiltering: false });
    const recipients = new Set([allowed, denied]);
    const ev = event('update', facts({ localOnly: true }));
    expect(kept(plain.apply({ channel: 'c', event: ev, recipients }))).toEqual([allowed, denied]);
    expect(kept(glitch.apply({ channel: 'c', event: ev, recipients }))).toEqual([allowed]);
    expect(
      kept(glitch.apply({ channel: 'c', event: event('delete', facts({ localOnly: true })), recipients })),
    ).toEqual([allowed, denied]);
  });
});

describe('filter - chain', () => {
  it('feeds each filter the survivors of the previous one, async included, and merges variants', async () => {
    const a = sub();
    const b = sub({}, { chosenLanguages: ['de'] });
    const c = sub();
    const seen: number[] = [];
    const changed: string[] = [];
    const store: EventFilter = {
      async apply({ recipients }) {
        seen.push(recipients.size);
        const keep = [...recipients].filter((s) => s !== c);
        return {
          deliver: keep,
          dropped: recipients.size - keep.length,
          variants: new Map([[a, Buffer.from('v')]]),
        };
      },
      filtersChanged: (id) => changed.push(id),
    };
    const chain = new FilterChain([new MemoryRules({ glitch: false }), store]);
    const r = await chain.apply({ channel: 'c', event: event('update'), recipients: new Set([a, b, c]) });
    expect(seen).toEqual([2]);
    expect(kept(r)).toEqual([a]);
    expect(r.dropped).toBe(2);
    expect(r.variants?.get(a)?.toString()).toBe('v');
    chain.filtersChanged('101');
    expect(changed).toEqual(['101']);
  });
});
