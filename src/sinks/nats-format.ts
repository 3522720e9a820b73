/**
 * The message body of a record on NATS (`--nats-format`): each form is one case below, loaded
 * only when chosen.
 */
import { isEvent, type Entry } from '../events/records.js';
import { toJsonLine } from '../format/json.js';

export const NATS_FORMATS = ['json', 'protobuf', 'ocsf'] as const;
export type NatsFormat = (typeof NATS_FORMATS)[number];

export async function natsEncoder(format: NatsFormat): Promise<(e: Entry) => Uint8Array> {
  switch (format) {
    case 'json':
      return (e) => Buffer.from(isEvent(e) ? toJsonLine(e) : JSON.stringify(e));
    case 'protobuf': {
      const { entryToProto, recordMessage } = await import('../format/protobuf.js');
      const Record = recordMessage();
      return (e) => Record.encode(entryToProto(e)).finish();
    }
    case 'ocsf': {
      // start, stop and lost records become OCSF Event Log Activity, as in an OCSF log
      const { toOcsfLine } = await import('../format/ocsf.js');
      return (e) => Buffer.from(toOcsfLine(e));
    }
  }
}
