/**
 * Checks the hash chain of audit logs (either format), across rotated files
 * given oldest first, and says where the first altered, removed or inserted
 * record is.
 */
import { createReadStream, existsSync } from 'node:fs';
import { basename } from 'node:path';
import { chainHash } from './chain.js';
import { parseJsonlRecord, parseProtobufRecord, type ChainedRecord, type LogFormat } from './codecs.js';
import { DAMAGED_SUFFIX, isRotatedFile, listRotated } from './files.js';
import { MAX_RECORD_BYTES, storedRecords, type StoredRecord } from './reader.js';

export interface VerifyOptions {
  /** accept a last run without a stop record (a log still being written) */
  open?: boolean;
  /** a hash recorded elsewhere (e.g. printed at stop): the chain must contain it */
  head?: string;
}

export interface VerifyProblem {
  file: string;
  /** 1-based line (JSONL) or record (protobuf) number */
  index: number;
  format: LogFormat | null;
  what: string;
}

export interface VerifyResult {
  ok: boolean;
  files: string[];
  records: number;
  firstSeq: number | null;
  lastSeq: number | null;
  /** hash of the last record that verified (hex) */
  head: string | null;
  runs: number;
  events: number;
  /** sum of the counts of lost records (kernel losses; stdout drops are events the log has) */
  lost: number;
  notes: string[];
  problem: VerifyProblem | null;
}

/**
 * Each path plus, before it, its rotated files (`<path>.<time>`, oldest first),
 * unless the path is itself a rotated file or they were given explicitly.
 */
export function expandLogPaths(paths: string[]): string[] {
  const out: string[] = [];
  const given = new Set(paths);
  for (const p of paths) {
    const base = basename(p);
    const rotated = isRotatedFile(base) ? [] : listRotated(p);
    const siblingsGiven = rotated.some((r) => given.has(r));
    if (!siblingsGiven) for (const r of rotated) if (!out.includes(r)) out.push(r);
    if (!out.includes(p) && (existsSync(p) || rotated.length === 0)) out.push(p);
  }
  return out;
}

type Parsed = ChainedRecord;

function parse(format: LogFormat, bytes: Buffer): Parsed {
  return format === 'jsonl' ? parseJsonlRecord(bytes) : parseProtobufRecord(bytes);
}

export async function verifyLogs(files: string[], opts: VerifyOptions = {}): Promise<VerifyResult> {
  const res: VerifyResult = {
    ok: false,
    files,
    records: 0,
    firstSeq: null,
    lastSeq: null,
    head: null,
    runs: 0,
    events: 0,
    lost: 0,
    notes: [],
    problem: null,
  };
  const wantHead = opts.head?.toLowerCase().replace(/^sha256:/, '');
  let headFound = false;
  let running: string | null = null;
  let expectSeq = 0;
  let openRun: string | null = null;
  let lastWhere: { file: string; index: number; format: LogFormat | null } | null = null;

  const fail = (file: string, index: number, format: LogFormat | null, what: string): VerifyResult => {
    res.problem = { file, index, format, what };
    return res;
  };

  for (let fi = 0; fi < files.length; fi++) {
    const file = files[fi]!;
    let format: LogFormat | null = null;
    const it = storedRecords(createReadStream(file), 'auto', (f) => (format = f))[Symbol.asyncIterator]();
    let cur = await it.next();
    if (cur.done) res.notes.push(`${file} is empty`);
    let firstInFile = true;
    while (!cur.done) {
      const raw: StoredRecord = cur.value;
      const fmt = format as LogFormat | null;
      const next = await it.next();
      const at = (what: string) => fail(file, raw.index, fmt, what);
      if (raw.tooLong !== undefined) {
        return at(`a line of ${raw.tooLong} bytes, over the ${MAX_RECORD_BYTES / 1024 / 1024} MiB maximum of a record: not a ctrace record (altered or corrupted)`);
      }
      if (!raw.complete && file.endsWith(DAMAGED_SUFFIX) && next.done) {
        // ctrace moved this file aside at start-up because of this tail, and linked the next run to
        // the record before it: the chain goes on; the cut record itself cannot be checked
        res.notes.push(`${file} is a damaged tail moved aside at start-up: its last ${fmt === 'protobuf' ? 'record' : 'line'} (${raw.index}) is cut short and was not checked`);
        break;
      }
      if (!raw.complete) {
        return at(
          fmt === 'protobuf'
            ? 'incomplete last record: cut short (an interrupted write, or the file was truncated)'
            : 'incomplete last line (no newline): an interrupted write, or the file was truncated',
        );
      }
      let rec: Parsed;
      try {
        rec = parse(fmt!, raw.bytes);
      } catch (err) {
        return at(
          fmt === 'protobuf'
            ? `does not decode as a ctrace record (altered or corrupted): ${(err as Error).message}`
            : `not valid JSON (altered or corrupted): ${(err as Error).message}`,
        );
      }
      if (!rec.hash || rec.seq === null) {
        return at(`${rec.hash ? 'no seq' : 'no chain hash'}: a record inserted, or altered`);
      }
      const isHeadRec = rec.type === 'start' || rec.type === 'continuation';
      if (running === null) {
        // the first record given: the chain must begin at a head record
        if (!isHeadRec || !rec.prev) {
          return at(
            `the chain must begin with a start or continuation record, found '${rec.type}' (seq ${rec.seq}): records removed from the beginning?`,
          );
        }
        running = rec.prev;
        expectSeq = rec.seq;
        res.firstSeq = rec.seq;
        if (rec.seq > 0) res.notes.push(`the chain begins at seq ${rec.seq}: earlier records are in files not given (or removed by rotation)`);
      } else {
        if (rec.seq !== expectSeq) {
          const boundary = firstInFile && fi > 0 ? ` (between ${files[fi - 1]} and ${file}: a file missing, or records removed from the end of the previous one)` : '';
          if (rec.seq > expectSeq) {
            const n = rec.seq - expectSeq;
            return at(`${n} record${n === 1 ? '' : 's'} removed before this one: seq jumps from ${expectSeq - 1} to ${rec.seq}${boundary}`);
          }
          return at(`record inserted or duplicated: seq ${rec.seq} where ${expectSeq} was expected${boundary}`);
        }
        if (isHeadRec && rec.prev !== running) {
          return at(`${rec.type} record does not link to the record before it: prev differs from its hash (altered, or files out of order)`);
        }
      }
      const hash = chainHash(running, ...rec.canonical);
      if (hash !== rec.hash) {
        let why = 'it, or the record before it, was altered (the chain does not match)';
        if (!next.done && next.value.complete) {
          try {
            const n = parse(fmt!, next.value.bytes);
            if (n.hash && chainHash(rec.hash, ...n.canonical) === n.hash) {
              why = 'altered: its content does not match its hash';
            } else if (n.hash && n.seq === rec.seq && chainHash(running, ...n.canonical) === n.hash) {
              why = 'inserted: not part of the chain (the next record links to the one before it)';
            }
          } catch {
            /* keep the general reason */
          }
        }
        return at(why);
      }
      running = hash;
      res.lastSeq = rec.seq;
      expectSeq = rec.seq + 1;
      res.records++;
      if (wantHead && hash === wantHead) headFound = true;
      switch (rec.type) {
        case 'start':
          if (openRun) res.notes.push(`the run started at ${openRun} has no stop record (ctrace was killed?)`);
          openRun = `${file}:${raw.index}`;
          res.runs++;
          break;
        case 'stop':
          openRun = null;
          break;
        case 'lost': {
          const o = rec.object;
          const lostObj = (o.lost as Record<string, unknown> | undefined) ?? o;
          // stdout's drops (source stdout) are events this log has; `lost` is what it misses
          const count = lostObj?.count;
          if ((typeof count === 'number' || (typeof count === 'string' && /^\d+$/.test(count))) && lostObj.source !== 'stdout') {
            res.lost += Number(count);
          }
          break;
        }
        case 'exec':
        case 'exit':
        case 'mount':
          res.events++;
          break;
      }
      lastWhere = { file, index: raw.index, format: fmt };
      firstInFile = false;
      cur = next;
    }
  }
  if (!running || !lastWhere) {
    return fail(files[files.length - 1] ?? '-', 0, null, 'no records');
  }
  res.head = running;
  if (openRun) {
    const msg = `the run started at ${openRun} has no stop record: the log was truncated, ctrace was killed, or it is still running`;
    if (!opts.open) {
      return fail(lastWhere.file, lastWhere.index, lastWhere.format, `${msg} (--open accepts a log still being written)`);
    }
    res.notes.push(msg);
  }
  if (wantHead && !headFound) {
    return fail(lastWhere.file, lastWhere.index, lastWhere.format, `no record has the hash ${wantHead}: the log was rewritten or cut short`);
  }
  res.ok = true;
  return res;
}

/** `file:line N: what`, for a problem. */
export function describeProblem(p: VerifyProblem): string {
  if (p.index <= 0) return `${p.file}: ${p.what}`;
  return p.format === 'protobuf' ? `${p.file}: record ${p.index}: ${p.what}` : `${p.file}:${p.index}: ${p.what}`;
}
