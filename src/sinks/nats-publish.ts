/**
 * JetStream publishes in batches: each message goes out with the client's core publish, its
 * `Nats-Msg-Id` header and a reply subject of our own, and the stream's acknowledgements come
 * back on one subscription. A batch waits on one timer, not one per message (what
 * JetStreamClient.publish() would cost: a request, a promise and a timer each), so the cost
 * per record stays small under an exec storm. This is JetStream's asynchronous publish, as the
 * Go client's PublishAsync does it.
 *
 * The one header is written as bytes, not built through the client's headers(): that is a Map,
 * a validation and an encoding per message, the largest part of a publish.
 */
import { createInbox, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';

export interface Outgoing {
  subject: string;
  id: string;
  payload: Uint8Array;
}

/**
 * What the client's publish() asks of its headers: their wire form, `NATS/1.0`, then
 * `Nats-Msg-Id: <id>`. An id is ours (host token, boot id, numbers): no CR or LF to check.
 */
export function msgIdHeader(id: string): MsgHdrs {
  const bytes = Buffer.from(`NATS/1.0\r\nNats-Msg-Id: ${id}\r\n\r\n`, 'latin1');
  return { encode: () => bytes } as unknown as MsgHdrs;
}

export class BatchPublisher {
  private readonly prefix = createInbox();
  private readonly sub: Subscription;
  private next = 0;
  /** the reply token number of the batch's first message: an acknowledgement's token gives its index */
  private base = -1;
  private results: boolean[] = [];
  /** acknowledgements already counted, by index in the batch */
  private acked = new Uint8Array(0);
  private left = 0;
  private done: (() => void) | null = null;
  /** acknowledgements saying the stream had the message already (a copy sent again) */
  duplicates = 0;

  constructor(private readonly nc: NatsConnection) {
    this.sub = nc.subscribe(`${this.prefix}.*`, { callback: (err, msg) => this.onAck(err, msg) });
  }

  /**
   * Publishes a batch and resolves with, per message, whether the stream acknowledged it
   * (stored it, or had it already: a duplicate id) within `timeoutMs`.
   */
  async send(batch: Outgoing[], timeoutMs: number): Promise<boolean[]> {
    this.results = new Array<boolean>(batch.length).fill(false);
    this.acked = new Uint8Array(batch.length);
    this.base = this.next;
    this.left = batch.length;
    const finished = new Promise<void>((r) => (this.done = r));
    for (let i = 0; i < batch.length; i++) {
      const m = batch[i]!;
      // no map entry per message: it would live until the acknowledgement (see nats-memory.ts)
      const token = `${this.prefix}.${this.next++}`;
      try {
        this.nc.publish(m.subject, m.payload, { reply: token, headers: msgIdHeader(m.id) });
      } catch {
        // the connection is closing: the rest of the batch is not sent
        this.left -= batch.length - i;
        break;
      }
    }
    let timer: NodeJS.Timeout | undefined;
    if (this.left > 0) await Promise.race([finished, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    this.done = null;
    this.acked = new Uint8Array(0); // late acknowledgements are ignored: the records are sent again, and de-duplicated
    return this.results;
  }

  private onAck(err: Error | null, msg: Msg): void {
    if (err) return;
    const dot = msg.subject.lastIndexOf('.');
    if (msg.subject.slice(0, dot) !== this.prefix) return;
    const i = Number(msg.subject.slice(dot + 1)) - this.base;
    // an index of this batch, counted once (a token of an earlier batch is below base)
    if (!(i >= 0 && i < this.acked.length) || this.acked[i]) return;
    this.acked[i] = 1;
    // a stored message: {"stream":…,"seq":…}; a failure: {"error":…}, or a 503 status (no responders)
    let ok = false;
    if (!msg.headers || !msg.headers.hasError) {
      try {
        const body = msg.json<{ error?: unknown; seq?: number; duplicate?: boolean }>();
        ok = !body.error && typeof body.seq === 'number';
        if (ok && body.duplicate) this.duplicates++;
      } catch {
        ok = false;
      }
    }
    this.results[i] = ok;
    if (--this.left === 0) this.done?.();
  }

  close(): void {
    this.sub.unsubscribe();
  }
}
