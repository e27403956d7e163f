/**
 * Where Mastodon's timeline messages come from. The Redis implementation is the real one;
 * the memory one feeds unit tests.
 */
export type MessageHandler = (channel: string, raw: Buffer) => void;

export interface MessageSource {
  /** Starts delivering messages, in the order the source received them. */
  start(onMessage: MessageHandler): Promise<void>;
  /** True while messages can arrive (subscribed and connected). */
  ready(): boolean;
  close(): Promise<void>;
}
