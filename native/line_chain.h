// chainJsonLines(): the audit log's hash chain (src/audit/chain.ts) over a batch of event
// lines from the JSON-lines lane, in one native call instead of a JavaScript string, hash and
// seal per line. SHA-256 is the one Node.js itself carries (OpenSSL's, exported to addons).
#ifndef CTRACE_NATIVE_LINE_CHAIN_H
#define CTRACE_NATIVE_LINE_CHAIN_H

#include <napi.h>

namespace ctrace {

// chainJsonLines(lines, offset, seq, head, room, recordsInFile) -> { bytes, offset, count,
// seq, head, exec, exit, mount }. Chains the lines from `offset` on: each becomes
//   canonical = line without its final '}' + ',"seq":<seq>}'
//   hash      = hex(SHA-256(head || canonical))
//   written   = canonical without its final '}' + ',"hash":"<hash>"}\n'
// Stops after the line whose bytes make `room` full (room > 0, and not the file's only record),
// so the log can rotate there. Throws when Node.js does not export SHA-256.
Napi::Value ChainJsonLines(const Napi::CallbackInfo& info);

}  // namespace ctrace

#endif  // CTRACE_NATIVE_LINE_CHAIN_H
