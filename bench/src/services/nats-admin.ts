/**
 * The two JetStream API calls the bench needs, over plain request/reply (no JetStream client):
 * the run's stream state (how many messages were stored) and its deletion afterwards.
 */
import type { NatsConnection } from '@nats-io/transport-node';

export interface StreamState {
  messages: number;
  bytes: number;
  firstSeq: number;
  lastSeq: number;
}

export async function streamState(nc: NatsConnection, stream: string): Promise<StreamState | null> {
  try {
    const m = await nc.request(`$JS.API.STREAM.INFO.${stream}`, '', { timeout: 3000 });
    const info = m.json<{
      state?: { messages: number; bytes: number; first_seq: number; last_seq: number };
    }>();
    if (!info.state) return null;
    return {
      messages: info.state.messages,
      bytes: info.state.bytes,
      firstSeq: info.state.first_seq,
      lastSeq: info.state.last_seq,
    };
  } catch {
    return null;
  }
}

export async function deleteStream(nc: NatsConnection, stream: string): Promise<boolean> {
  try {
    const m = await nc.request(`$JS.API.STREAM.DELETE.${stream}`, '', { timeout: 5000 });
    return m.json<{ success?: boolean }>().success === true;
  } catch {
    return false;
  }
}
