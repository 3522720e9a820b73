/**
 * `ctrace read <file>`: what ctrace wrote (a JSONL or protobuf log, a saved
 * `--output json|protobuf` stream, `-` for stdin, or the `--socket` of a running
 * ctrace) back in the human (table) or JSON form. The format is detected from
 * the first bytes. Chain fields (seq, prev, hash) are left out: `ctrace verify`
 * checks them. `--follow` keeps reading a growing log across its rotation; `--since`,
 * `--until` and the filters of `ctrace run` select what is printed.
 */
import { createReadStream, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { escapeControl } from '../util/bytes.js';
import type { LogFormat } from '../audit/codecs.js';
import { entryFromOcsf } from '../format/ocsf-decode.js';
import { describeFsError } from '../util/fs-util.js';
import { MAX_RECORD_BYTES, storedRecords } from '../audit/reader.js';
import { isEvent, type Entry, type MetaRecord } from '../events/records.js';
import { fromJsonObject, toJsonObject } from '../format/json.js';
import { decodeRecordObject, entryFromProto } from '../format/protobuf.js';
import { tableHeader, tableNote, toTableLine } from '../format/table.js';
import { compileFilter, describeContainerFilter, type EventFilter } from '../classify/filter.js';
import { Readable as ReadableStream } from 'node:stream';
import { followFile } from './follow.js';
import { ProcessTree } from '../format/tree.js';

export type ReadOutput = 'table' | 'json';

export interface ReadOptions {
  output?: ReadOutput;
  /** default: detected */
  format?: LogFormat | 'auto';
  /** keep reading a growing file, across rotation, until SIGINT/SIGTERM (or `signal`) */
  follow?: boolean;
  /** ends --follow (default: SIGINT/SIGTERM) */
  signal?: AbortSignal;
  /** only records at or after / at or before these times (ms since the epoch) */
  sinceMs?: number;
  untilMs?: number;
  filter?: EventFilter;
  /** print the process tree of the selected events instead of the events */
  tree?: boolean;
}

/** One human line for a start/stop/lost/rotate/continuation record. */
export function metaTableLine(r: MetaRecord): string {
  const t = r.time.slice(11, 23);
  switch (r.type) {
    case 'start':
      return escapeControl(
        `${t} -- start: ctrace ${r.version} on ${r.host} (kernel ${r.kernel}), pid ${r.pid}, events ${r.options.events.join(',')}`,
      );
    case 'stop': {
      const e = r.events;
      return escapeControl(
        `${t} -- stop (${r.reason}): ${Number(e.exec) + Number(e.exit) + Number(e.mount)} events (exec ${e.exec}, exit ${e.exit}, mount ${e.mount}), ${r.lost} lost`,
      );
    }
    case 'lost':
      return r.source === 'stdout'
        ? `${t} -- ${r.count} events not written to stdout: too slow (${r.total} since start; this log has them)`
        : `${t} -- LOST ${r.count} events: ring buffer full (${r.total} since start)`;
    case 'rotate':
      return `${t} -- log rotated (${r.reason}); continues in the next file`;
    case 'continuation':
      return escapeControl(`${t} -- log continues${r.previousFile ? ` from ${r.previousFile}` : ''}`);
  }
}

function openSource(path: string): Readable {
  if (path === '-') return process.stdin;
  let isSocket = false;
  try {
    isSocket = statSync(path).isSocket();
  } catch {
    /* createReadStream reports it */
  }
  return isSocket ? createConnection(path) : createReadStream(path);
}

export async function readCommand(path: string, opts: ReadOptions, out: Writable, err: Writable): Promise<number> {
  const output = opts.output ?? 'table';
  const name = path === '-' ? 'stdin' : path;
  let outClosed = false;
  out.on('error', () => (outClosed = true));
  let buf: string[] = [];
  let headerDone = false;
  let bad = 0;
  const complain = (msg: string) => {
    bad++;
    if (bad <= 10) err.write(`ctrace: ${msg}\n`);
    if (bad === 11) err.write('ctrace: (more problems not shown)\n');
  };
  const flush = async () => {
    if (!buf.length || outClosed) return;
    const chunk = buf.join('\n') + '\n';
    buf = [];
    if (!out.write(chunk)) {
      await new Promise<void>((r) => {
        out.once('drain', r);
        out.once('error', r);
        out.once('close', r);
      });
    }
  };
  const tree = opts.tree ? new ProcessTree() : null;
  const emit = (e: Entry) => {
    if (tree) {
      if (isEvent(e)) tree.add(e);
      return;
    }
    if (output === 'json') {
      buf.push(JSON.stringify(toJsonObject(e)));
    } else if (isEvent(e)) {
      if (!headerDone) {
        headerDone = true;
        buf.push(tableHeader());
      }
      buf.push(toTableLine(e));
    } else {
      buf.push(tableNote(metaTableLine(e), e.type === 'lost' ? 'error' : undefined));
    }
  };

  const filter = compileFilter(opts.filter);
  let matched = 0;
  const stopFollow = new AbortController();
  const onSignal = () => stopFollow.abort();
  const follow = !!opts.follow && path !== '-' && isRegularFile(path);
  if (follow) {
    opts.signal?.addEventListener('abort', onSignal, { once: true });
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  /** whether a record is in the time window and passes the filters */
  const selected = (e: Entry): boolean => {
    if (opts.sinceMs !== undefined || opts.untilMs !== undefined) {
      const t = Date.parse(e.time);
      if (opts.sinceMs !== undefined && t < opts.sinceMs) return false;
      if (opts.untilMs !== undefined && t > opts.untilMs) {
        stopFollow.abort(); // a log is written in time order: nothing later can be selected
        return false;
      }
    }
    if (!isEvent(e)) return true; // start, stop, lost, rotate: the context of what is shown
    if (!filter.event(e)) return false;
    matched++;
    return true;
  };

  let format: LogFormat | null = null;
  let decoded = 0;
  const source = follow ? ReadableStream.from(followFile(path, { signal: stopFollow.signal })) : openSource(path);
  // Ctrl-C: stop reading, print what was read, exit 130 (following, Ctrl-C is the way to end: exit 0)
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
    source.destroy();
  };
  if (!follow) process.once('SIGINT', onSigint);
  try {
    for await (const raw of storedRecords(source, opts.format ?? 'auto', (f) => (format = f))) {
      const where = format === 'protobuf' ? `${name}: record ${raw.index}` : `${name}:${raw.index}`;
      if (raw.tooLong !== undefined) {
        complain(`${where}: a line of ${raw.tooLong} bytes, over the ${MAX_RECORD_BYTES / 1024 / 1024} MiB maximum of a record, skipped`);
        continue;
      }
      if (!raw.complete) {
        if (follow && stopFollow.signal.aborted) break; // a line still being written when we were stopped
        if (decoded === 0) return notCtrace(err, name, 'cut short');
        complain(`${where}: incomplete last ${format === 'protobuf' ? 'record' : 'line'} (cut short), skipped`);
        continue;
      }
      let entry: Entry;
      try {
        if (format === 'jsonl') {
          if (raw.bytes.length === 0) continue;
          const o = JSON.parse(raw.bytes.toString('utf8')) as Record<string, unknown>;
          entry = typeof o.class_uid === 'number' ? entryFromOcsf(o) : fromJsonObject(o); // OCSF: --log-format ocsf
        } else {
          entry = entryFromProto(decodeRecordObject(raw.bytes));
        }
      } catch (e) {
        // the first record decides: anything else is not something ctrace wrote, said once
        if (decoded === 0) {
          await flush();
          return notCtrace(err, name, (e as Error).message);
        }
        complain(`${where}: not a ctrace record: ${(e as Error).message}`);
        continue;
      }
      decoded++;
      if (selected(entry)) emit(entry);
      // following, or a live source (a socket, a pipe): what arrived is printed now, not after 512 more
      if (buf.length >= 512 || follow || raw.endOfChunk) await flush();
      if (outClosed || interrupted) break;
    }
    if (tree) buf.push(...tree.lines());
    await flush();
  } catch (e) {
    await flush().catch(() => {});
    if (interrupted) return 130; // the destroyed source ends the iteration early: that was us
    const code = (e as NodeJS.ErrnoException).code;
    err.write(`ctrace: cannot read ${name}: ${code ? describeFsError(e) : (e as Error).message}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSigint);
    if (path !== '-') source.destroy();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (matched === 0 && filter.selectsContainers && decoded > 0) {
    err.write(`ctrace: note: no event in ${name} matches ${describeContainerFilter(opts.filter!)}\n`);
  }
  if (interrupted) return 130;
  return bad > 0 ? 1 : 0;
}

function notCtrace(err: Writable, name: string, why: string): number {
  // the decoder's complaint about a foreign file (a wire type, a JSON position) helps nobody
  void why;
  err.write(`ctrace: ${name}: not a ctrace log\n`);
  return 1;
}

function isRegularFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
