// The audit log's hash chain (src/audit/chain.ts) for lines the JSON lane already wrote: each
// line sealed in C++, so a --log run does not walk and hash every event line in JavaScript.
#ifndef CTRACE_NATIVE_CHAIN_SEAL_H
#define CTRACE_NATIVE_CHAIN_SEAL_H

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ctrace {

// What a batch of lines held, by event type (each line's first key).
struct SealCounts {
  uint64_t exec = 0;
  uint64_t exit = 0;
  uint64_t mount = 0;
};

// hash[n] = hex(SHA-256(hash[n-1] || canonical(record n))), canonical being the line with
// `,"seq":<seq>` as its last key; the record is that plus `,"hash":"<hex>"`.
class ChainSeal {
 public:
  // Bytes SealInto writes for `lines` starting at `seq`; 0 when a line is not what the lane
  // writes: an exec, exit or mount event's JSON object, "type" its first key, ended by '\n'.
  // With `count`, the number of lines goes there.
  static size_t SealedSize(const uint8_t* lines, size_t n, uint64_t seq, uint64_t* count = nullptr);
  // Writes the sealed records to `out` (SealedSize bytes), advancing *seq and head_hex (64
  // lowercase hex characters: the last record's hash). False when OpenSSL failed (the chain is
  // then past the lines sealed so far: the caller drops it).
  static bool SealInto(const uint8_t* lines, size_t n, uint64_t* seq, char head_hex[64], uint8_t* out,
                       SealCounts* counts);
  // One record JavaScript built (src/audit/codecs.ts jsonlBody): `body` is its JSON object
  // without the chain's fields. Appends the sealed line to `out`: `,"seq":<seq>` (and, on a head
  // record, `,"prev":"<head_hex>"`) as its last keys, then its hash; the same bytes jsonlCodec
  // writes. False when `body` does not end in '}' or OpenSSL failed (nothing appended).
  static bool SealRecord(const uint8_t* body, size_t n, bool head_record, uint64_t* seq, char head_hex[64],
                         std::vector<uint8_t>* out);

  // 64 lowercase hex characters: a chain's head as JavaScript gives it.
  static bool IsHeadHex(const std::string& s);

  // sealLines(lines: Buffer, seq: number, head: string, into: Buffer) -> { size, head, exec,
  // exit, mount }: the records in into[0, size); only { size } when into is shorter (nothing
  // sealed). Into a block the caller reuses: a fresh buffer per batch would be garbage that
  // JavaScript, allocating little in a --log run, collects too seldom.
  static Napi::Value SealLines(const Napi::CallbackInfo& info);
};

}  // namespace ctrace

#endif  // CTRACE_NATIVE_CHAIN_SEAL_H
