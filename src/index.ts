/** Public API: `import { Tracer } from 'ctrace-ebpf'`. */
export { Tracer } from './tracer/tracer.js';
export type { TracerOptions, TracerFilter, LostReport } from './tracer/tracer.js';
export type * from './events/event.js';
export { RUNTIMES } from './events/event.js';
export { classifyCgroupPath } from './classify/classify.js';
export type { Classification } from './classify/classify.js';
export { toJsonObject, toJsonLine } from './format/json.js';
export type { Sink } from './sinks/sink.js';
export { AuditLog } from './audit/log.js';
export type { AuditLogOptions, FsyncPolicy } from './audit/log.js';
export { verifyLogs, expandLogPaths } from './audit/verify.js';
export type { VerifyOptions, VerifyResult, VerifyProblem } from './audit/verify.js';
