/**
 * What the OCSF form and the OTLP exporter cost per event, in this process.
 *
 *     npx vitest bench --run bench/exporters.bench.ts
 *
 * "JSON line" is the JSON form's serialiser, for comparison; "OCSF line" is
 * `--output ocsf`; "chained OCSF line" is `--log-format ocsf` (the mapping, seq,
 * SHA-256 and the hash field). "OTLP, 512 events exported" emits a batch through the
 * SDK and waits until a loopback OTLP/HTTP endpoint has taken it: mapping, protobuf
 * encoding and the HTTP request, divided by 512 for the cost of one event.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, bench, describe } from 'vitest';
import { Chain, newSeed } from '../src/audit/chain.js';
import { toJsonLine } from '../src/format/json.js';
import { toOcsfLine } from '../src/format/ocsf.js';
import { ocsfCodec } from '../src/audit/codecs.js';
import { otlpAttributes, OtlpSink } from '../src/sinks/otlp.js';
import { sampleEvents } from '../test/helpers/events.js';

const events = sampleEvents(1024);
let i = 0;
const next = () => events[i++ & 1023]!;
const chain = new Chain(0, newSeed());

// a collector stand-in that reads each request and answers 200 (no decoding: only ctrace's side is measured)
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/x-protobuf' });
    res.end();
  });
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const sink = new OtlpSink({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/logs`, onNote: () => {} });
afterAll(async () => {
  await sink.close();
  server.close();
});

describe('per event', () => {
  bench('JSON line', () => {
    toJsonLine(next());
  });
  bench('OCSF line', () => {
    toOcsfLine(next());
  });
  bench('chained OCSF line', () => {
    chain.append(ocsfCodec, next());
  });
  bench('OTLP attributes', () => {
    otlpAttributes(next());
  });
});

describe('OTLP, 512 events exported', () => {
  bench(
    'emit 512 + flush to a loopback endpoint',
    async () => {
      for (let k = 0; k < 512; k++) sink.write(next());
      await sink.flush();
    },
    { time: 3000 },
  );
});
