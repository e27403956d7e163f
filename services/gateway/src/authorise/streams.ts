/**
 * Stream name + params → Redis channels and delivery options (spec §3.2, §5.5, §5.6, §6, §15),
 * Mastodon's `channelNameToIds`. Hashtags are normalised with shared `normalizeHashtag`; list
 * ownership and feed-access settings come from the auth store.
 */
import { Errors, isTruthy, normalizeHashtag, StreamingError } from '@sluice/shared';
import { labelJson } from '../encode/index.js';
import type { AuthContext, ResolvedStream, StreamOptions, StreamParams } from '../model.js';
import { canReadNotifications } from './scopes.js';
import type { AuthStore } from './store.js';

/** `view_feeds` (bit 20): full access to live and topic feeds whatever the settings say. */
export const PERMISSION_VIEW_FEEDS = 0x100000n;
const DISABLED = '--- disabled\n';

type FeedKind = 'public' | 'hashtag';
const FEED_VARS: Record<FeedKind, readonly [local: string, remote: string]> = {
  public: ['local_live_feed_access', 'remote_live_feed_access'],
  hashtag: ['local_topic_feed_access', 'remote_topic_feed_access'],
};

export interface StreamResolverOptions {
  store: AuthStore;
  /** glitch-soc local-only rules and stream names (`SLUICE_GLITCH`). */
  glitch: boolean;
  /**
   * Feed-access settings are shared by every subscriber: concurrent reads share one query and the
   * answer is reused this long (Mastodon reads them per subscribe and never refreshes them either).
   */
  settingsTtlMs?: number;
  now?: () => number;
}

const PLAIN: StreamOptions = {
  needsFiltering: false,
  filterLocal: false,
  filterRemote: false,
  allowLocalOnly: true,
};

export class StreamResolver {
  private readonly cache = new Map<FeedKind, { at: number; access: Promise<[boolean, boolean]> }>();
  private readonly ttl: number;
  private readonly now: () => number;

  constructor(private readonly opts: StreamResolverOptions) {
    this.ttl = opts.settingsTtlMs ?? 1000;
    this.now = opts.now ?? Date.now;
  }

  async resolve(auth: AuthContext, name: string, params: StreamParams): Promise<ResolvedStream> {
    const acct = auth.accountId;
    const glitch = this.opts.glitch;
    switch (name) {
      case 'user': {
        const channels = [`timeline:${acct}`];
        if (canReadNotifications(auth)) channels.push(`timeline:${acct}:notifications`);
        return plain(name, channels);
      }
      case 'user:notification':
        return plain(name, [`timeline:${acct}:notifications`]);
      case 'direct':
        return plain(name, [`timeline:direct:${acct}`]);
      case 'public':
      case 'public:media':
        return this.feed(
          auth,
          name,
          'public',
          `timeline:${name}`,
          glitch && isTruthy(params['allow_local_only']),
        );
      case 'public:local':
      case 'public:local:media':
        return this.feed(auth, name, 'public', `timeline:${name}`, true);
      case 'public:remote':
      case 'public:remote:media':
        return this.feed(auth, name, 'public', `timeline:${name}`, false);
      case 'hashtag':
      case 'hashtag:local': {
        const tag = params['tag'];
        if (!tag) throw new StreamingError(Errors.MissingTag);
        // Mastodon's normalizeHashtag throws on a non-string (a repeated query parameter): 500.
        if (typeof tag !== 'string') throw new StreamingError(Errors.Unexpected);
        const base = `timeline:hashtag:${normalizeHashtag(tag)}`;
        return this.feed(auth, name, 'hashtag', name === 'hashtag' ? base : `${base}:local`, true, [
          name,
          tag,
        ]);
      }
      case 'list': {
        const list = params['list'];
        if (!list) throw new StreamingError(Errors.MissingList);
        let owned = false;
        try {
          owned = await this.opts.store.listOwnedBy(list, acct);
        } catch {
          owned = false;
        }
        if (!owned) throw new StreamingError(Errors.ListNotAuthorized);
        return plain(name, [`timeline:list:${String(list)}`], [name, list]);
      }
      case 'public:allow_local_only':
      case 'public:allow_local_only:media':
        if (glitch) {
          const channel = name === 'public:allow_local_only' ? 'timeline:public' : 'timeline:public:media';
          return this.feed(auth, name, 'public', channel, true);
        }
        break;
    }
    throw new StreamingError(Errors.UnknownStream);
  }

  private async feed(
    auth: AuthContext,
    name: string,
    kind: FeedKind,
    channel: string,
    allowLocalOnly: boolean,
    label: readonly unknown[] = [name],
  ): Promise<ResolvedStream> {
    let local = true;
    let remote = true;
    if ((auth.permissions & PERMISSION_VIEW_FEEDS) === 0n) [local, remote] = await this.access(kind);
    return {
      name,
      channels: [channel],
      options: { needsFiltering: true, filterLocal: !local, filterRemote: !remote, allowLocalOnly },
      labelJson: labelJson(label),
    };
  }

  /** [localAccess, remoteAccess]; a failed query is a 500 (spec §3.4). */
  private access(kind: FeedKind): Promise<[boolean, boolean]> {
    const now = this.now();
    const cached = this.cache.get(kind);
    if (cached && now - cached.at < this.ttl) return cached.access;
    const [localVar, remoteVar] = FEED_VARS[kind];
    const access = this.opts.store.settings([localVar, remoteVar]).then(
      (rows): [boolean, boolean] => {
        let local = true;
        let remote = true;
        for (const row of rows) {
          if (row.var === localVar) local = row.value !== DISABLED;
          else if (row.var === remoteVar) remote = row.value !== DISABLED;
        }
        return [local, remote];
      },
      (err: unknown) => {
        this.cache.delete(kind);
        throw new StreamingError(Errors.Unexpected, { cause: err });
      },
    );
    this.cache.set(kind, { at: now, access });
    return access;
  }
}

function plain(name: string, channels: string[], label: readonly unknown[] = [name]): ResolvedStream {
  return { name, channels, options: PLAIN, labelJson: labelJson(label) };
}
