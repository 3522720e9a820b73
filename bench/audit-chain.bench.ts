/**
 * What the audit log's hash chain costs per event.
 *
 *     npx vitest bench --run bench/audit-chain.bench.ts
 *
 * "JSON line" is what a JSONL log without a chain would do per event anyway
 * (toJsonLine); "chained JSONL line" adds seq, SHA-256 over the previous hash
 * and the line, and the hash field. The difference is the chain's cost. The
 * protobuf rows are the same for `--log-format protobuf`, and verify is the
 * reader's side (parse + hash per line).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bench, describe } from 'vitest';
import { AuditLog } from '../src/audit/log.js';
import { startOptions } from '../src/events/records.js';
import { Chain, chainHash, newSeed } from '../src/audit/chain.js';
import { jsonlCodec, parseJsonlRecord, protobufCodec } from '../src/audit/codecs.js';
import { toJsonLine } from '../src/format/json.js';
import { entryToProto, recordMessage } from '../src/format/protobuf.js';
import { sampleEvents } from '../test/helpers/events.js';

const events = sampleEvents(1024);
let i = 0;
const next = () => events[i++ & 1023]!;

const chain = new Chain(0, newSeed());
const pbChain = new Chain(0, newSeed());
const T = recordMessage();
const lines = events.map((e) => Buffer.from((new Chain(0, newSeed()).append(jsonlCodec, e) as string).slice(0, -1)));
let sink = 0;

describe('per event', () => {
  bench('JSON line (no chain)', () => {
    sink += toJsonLine(next()).length;
  });
  bench('chained JSONL line (JSON + seq + SHA-256 + hash field)', () => {
    sink += (chain.append(jsonlCodec, next()) as string).length;
  });
  bench('SHA-256 alone over a JSON line', () => {
    sink += chainHash(chain.head, toJsonLine(next())).length;
  });
  bench('protobuf record (no chain)', () => {
    sink += T.encode(entryToProto(next())).finish().length;
  });
  bench('chained protobuf record', () => {
    sink += (pbChain.append(protobufCodec, next()) as Buffer).length;
  });
  bench('verify: parse + hash one JSONL line', () => {
    const r = parseJsonlRecord(lines[i++ & 1023]!);
    sink += chainHash(chain.head, ...r.canonical).length;
  });
});

/* ---------- end to end: AuditLog, 10,000 events a round, written and flushed ---------- */

const dir = mkdtempSync(join(tmpdir(), 'ctrace-bench-'));
const batch = sampleEvents(10_000);
let round = 0;

describe('audit log end to end (10,000 events per round, one file per round)', () => {
  for (const format of ['jsonl', 'protobuf'] as const) {
    bench(
      `AuditLog ${format}, fsync 1s`,
      async () => {
        const log = await AuditLog.open({ path: join(dir, `r${round++}.log`), format, start: startOptions() });
        for (let k = 0; k < batch.length; k++) {
          log.write(batch[k]!);
          if (k % 256 === 255) await new Promise((r) => setImmediate(r)); // ring-buffer-sized batches
        }
        await log.close('bench');
      },
      { iterations: 10, teardown: () => rmSync(dir, { recursive: true, force: true }) },
    );
  }
});
