/**
 * Real raw batches for the userland micro-benchmark: the addon's tracer, loaded in
 * this process, records what the kernel hands over while a container runs an exec
 * storm and a mount storm. Only the container's records are kept (the host's, all
 * "unknown" here because nobody writes verdicts back, are dropped), re-batched in the
 * sizes the poll thread delivered, and written as u32 length + bytes per batch.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from './build.js';

const dist = (m) => import(pathToFileURL(join(REPO_ROOT, 'dist', m)).href);

/** @param {() => Promise<unknown>} workload runs while the capture is on */
export async function captureBatches(file, workload) {
  const { loadNative } = await dist('addon/native.js');
  const { hostPidnsIno, v1SubsysId } = await dist('util/host.js');
  const abi = await dist('decode/abi.js');
  const native = loadNative();
  const tracer = new native.Program({
    hostPidnsIno: hostPidnsIno(),
    pidnsOnly: false,
    emitHost: false,
    eventMask: (1 << abi.EV_EXEC) | (1 << abi.EV_EXIT) | (1 << abi.EV_MOUNT),
    wakeupBytes: 256 * 1024,
    v1SubsysId: v1SubsysId().id,
    ringBytes: 16 * 1024 * 1024,
    pollMs: 5,
  });
  const raw = [];
  try {
    tracer.attach();
    tracer.start((err, batch) => {
      if (!err && batch) raw.push(Buffer.from(batch));
    });
    await workload();
    await new Promise((r) => setTimeout(r, 200));
  } finally {
    tracer.close();
  }
  // keep the container's records, in their original batches
  const kept = [];
  let records = 0;
  for (const b of raw) {
    const parts = [];
    for (let o = 0; o + abi.SIZE.hdr <= b.length; ) {
      const size = b.readUInt32LE(o + abi.OFF.hdr.size);
      if (size < abi.SIZE.hdr || o + size > b.length) break;
      const rec = abi.decodeBatch(b.subarray(o, o + size), new abi.CgroupPathCache())[0];
      if (rec && /\/docker\/[0-9a-f]{64}$/.test(rec.task.cgroupPath)) parts.push(b.subarray(o, o + size));
      o += size;
    }
    if (parts.length) {
      kept.push(Buffer.concat(parts));
      records += parts.length;
    }
  }
  const out = [];
  for (const b of kept) {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    out.push(len, b);
  }
  writeFileSync(file, Buffer.concat(out));
  return { batches: kept.length, records, bytes: kept.reduce((s, b) => s + b.length, 0) };
}
