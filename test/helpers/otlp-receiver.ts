/**
 * A stand-in for an OpenTelemetry Collector (none can be installed on this
 * machine): an OTLP/HTTP logs receiver on loopback that decodes every request
 * with the OpenTelemetry protobuf definitions (the protobufjs root generated from
 * opentelemetry-proto, as shipped in @opentelemetry/otlp-transformer 0.208, here
 * under the alias `otlp-transformer-generated`) and answers as a collector does.
 * It keeps each log record with its resource and scope, values decoded to plain JS.
 */
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const root = require('otlp-transformer-generated/build/src/generated/root.js') as any;
const ExportLogsServiceRequest = root.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
const ExportLogsServiceResponse = root.opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse;

export type AttrValue = string | number | boolean | AttrValue[] | { [k: string]: AttrValue } | null;

export interface ReceivedLog {
  resource: Record<string, AttrValue>;
  scope: { name: string; version: string };
  /** nanoseconds since the epoch, exact */
  timeUnixNano: bigint;
  observedTimeUnixNano: bigint;
  severityNumber: number;
  severityText: string;
  eventName: string;
  body: AttrValue;
  attributes: Record<string, AttrValue>;
}

export interface OtlpReceiver {
  /** http://127.0.0.1:<port> */
  url: string;
  logs: ReceivedLog[];
  /** requests that were not a decodable ExportLogsServiceRequest */
  rejected: string[];
  requests: number;
  /** the authorization header of the last request */
  authorization: string | undefined;
  /** the content-encoding of the last request that was decoded */
  encoding: string | undefined;
  close(): Promise<void>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function anyValue(v: any): AttrValue {
  if (!v) return null;
  if (v.stringValue != null) return v.stringValue as string;
  if (v.boolValue != null) return v.boolValue as boolean;
  if (v.intValue != null) return Number(v.intValue);
  if (v.doubleValue != null) return v.doubleValue as number;
  if (v.arrayValue) return ((v.arrayValue.values ?? []) as unknown[]).map(anyValue);
  if (v.kvlistValue) return attrs(v.kvlistValue.values);
  if (v.bytesValue) return Buffer.from(v.bytesValue as Uint8Array).toString('base64');
  return null;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function attrs(kvs: any[] | undefined): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {};
  for (const kv of kvs ?? []) out[kv.key as string] = anyValue(kv.value);
  return out;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const ns = (v: any): bigint => (v == null ? 0n : BigInt(v.toString()));

/**
 * `unavailableFor`: answer the first N requests 503 (a collector restarting), as a collector
 * would say it. `hold`: take requests but answer none before it resolves (a collector behind).
 */
export async function startOtlpReceiver(opts: { unavailableFor?: number; hold?: Promise<void> } = {}): Promise<OtlpReceiver> {
  let unavailable = opts.unavailableFor ?? 0;
  const logs: ReceivedLog[] = [];
  const rejected: string[] = [];
  let requests = 0;
  let authorization: string | undefined;
  let encoding: string | undefined;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => void (opts.hold ?? Promise.resolve()).then(() => answer()));
    const answer = () => {
      requests++;
      authorization = req.headers.authorization;
      if (unavailable > 0) {
        unavailable--;
        res.writeHead(503, { 'retry-after': '0' });
        res.end();
        return;
      }
      try {
        if (req.method !== 'POST' || req.url !== '/v1/logs') throw new Error(`${req.method} ${req.url}`);
        if (req.headers['content-type'] !== 'application/x-protobuf') throw new Error(`content-type ${req.headers['content-type']}`);
        let body = Buffer.concat(chunks);
        encoding = req.headers['content-encoding'];
        if (encoding === 'gzip') body = gunzipSync(body);
        const msg = ExportLogsServiceRequest.decode(body);
        for (const rl of msg.resourceLogs ?? []) {
          const resource = attrs(rl.resource?.attributes);
          for (const sl of rl.scopeLogs ?? []) {
            const scope = { name: (sl.scope?.name ?? '') as string, version: (sl.scope?.version ?? '') as string };
            for (const r of sl.logRecords ?? []) {
              logs.push({
                resource,
                scope,
                timeUnixNano: ns(r.timeUnixNano),
                observedTimeUnixNano: ns(r.observedTimeUnixNano),
                severityNumber: r.severityNumber as number,
                severityText: r.severityText as string,
                eventName: (r.eventName ?? '') as string,
                body: anyValue(r.body),
                attributes: attrs(r.attributes),
              });
            }
          }
        }
        res.writeHead(200, { 'content-type': 'application/x-protobuf' });
        res.end(Buffer.from(ExportLogsServiceResponse.encode({}).finish()));
      } catch (err) {
        rejected.push((err as Error).message);
        res.writeHead(400);
        res.end();
      }
    };
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    logs,
    rejected,
    get requests() {
      return requests;
    },
    get authorization() {
      return authorization;
    },
    get encoding() {
      return encoding;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
