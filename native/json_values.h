// How one value of each kind is written in the JSON form, for the writers scripts/gen-schema.mjs
// generates from proto/ctrace.proto (json_records.h in the build directory). The same rules
// as src/events/wire.ts and JSON.stringify: kernel bytes as src/util/bytes.ts decodes them (an
// invalid UTF-8 byte 0xNN is the lone surrogate U+DCNN, written \udcNN), 64-bit values as
// numbers while a double holds them exactly and as decimal strings beyond. No field is named here.
#ifndef CTRACE_NATIVE_JSON_VALUES_H
#define CTRACE_NATIVE_JSON_VALUES_H

#include <string.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "text.h"

namespace ctrace {
namespace json {

// Integers a JS number holds exactly: 2^53 - 1 (Number.MAX_SAFE_INTEGER).
constexpr uint64_t kMaxExact = 9007199254740991ull;

// Kernel bytes [p, end). A null p is an absent value (JSON null) where the schema allows one.
struct Str {
  const uint8_t* p = nullptr;
  const uint8_t* end = nullptr;
};

// A JSON array: n values the caller keeps alive while the line is written (argv, an exec's
// ancestors). An element is written by the Put overload for its type (a message's object writer
// is generated in json_records.h and found by argument type).
template <typename T>
struct List {
  const T* items = nullptr;
  size_t n = 0;
};
using StrList = List<Str>;

// A number the schema allows to be absent (JSON null).
template <typename T>
struct Opt {
  bool has = false;
  T v{};
};

// Text written as it is between quotes: an ISO time, one of a field's fixed values.
struct Lit {
  const char* p = "";
  size_t n = 0;
};

// Length of the valid UTF-8 sequence at p, or 0: src/util/bytes.ts utf8SeqLen, the same rules
// (no overlongs, no surrogates, nothing above U+10FFFF).
inline size_t Utf8SeqLen(const uint8_t* p, const uint8_t* end) {
  const uint8_t b0 = p[0];
  size_t n;
  uint8_t lo = 0x80, hi = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    n = 2;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    n = 3;
    if (b0 == 0xe0) lo = 0xa0;
    if (b0 == 0xed) hi = 0x9f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    n = 4;
    if (b0 == 0xf0) lo = 0x90;
    if (b0 == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (static_cast<size_t>(end - p) < n) return 0;
  if (p[1] < lo || p[1] > hi) return 0;
  for (size_t k = 2; k < n; k++) {
    if (p[k] < 0x80 || p[k] > 0xbf) return 0;
  }
  return n;
}

// The first byte at or after p that may need more than a copy (a control, '"', '\\', or any byte
// of 0x80 and up), eight bytes at a time, as most of a line is plain ASCII; the last few bytes
// are left to the caller. Per word: the classic has-zero-byte test (x - 0x01..) & ~x & 0x80..,
// whose lowest flag is exact (a borrow only flags bytes above a true hit).
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "SkipPlain reads the lowest address as the lowest byte");
inline const uint8_t* SkipPlain(const uint8_t* p, const uint8_t* end) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHighs = 0x8080808080808080ull;
  while (end - p >= 8) {
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    const uint64_t quote = v ^ (kOnes * '"');       // a zero byte where '"'
    const uint64_t backslash = v ^ (kOnes * '\\');  // a zero byte where '\\'
    const uint64_t hits = (((v - kOnes * 0x20) & ~v) | ((quote - kOnes) & ~quote) |
                           ((backslash - kOnes) & ~backslash) | v) & kHighs;
    if (hits != 0) return p + (__builtin_ctzll(hits) >> 3);
    p += 8;
  }
  return p;
}

// The bytes quoted as JSON.stringify quotes their decoded text: \" \\ \b \t \n \f \r, \u00xx
// for other controls, \udcNN for an invalid byte.
inline void Put(std::string* s, const Str& v) {
  const uint8_t* p = v.p;
  const uint8_t* end = v.end;
  s->push_back('"');
  const uint8_t* run = p;
  while (p < end) {
    p = SkipPlain(p, end);
    if (p == end) break;
    const uint8_t b = *p;
    if (b >= 0x20 && b < 0x80 && b != '"' && b != '\\') {
      p++;
      continue;
    }
    size_t n = 0;
    if (b >= 0x80 && (n = Utf8SeqLen(p, end)) > 0) {
      p += n;
      continue;
    }
    s->append(reinterpret_cast<const char*>(run), p - run);
    switch (b) {
      case '"': s->append("\\\""); break;
      case '\\': s->append("\\\\"); break;
      case '\b': s->append("\\b"); break;
      case '\t': s->append("\\t"); break;
      case '\n': s->append("\\n"); break;
      case '\f': s->append("\\f"); break;
      case '\r': s->append("\\r"); break;
      default: {
        s->append(b >= 0x80 ? "\\udc" : "\\u00");  // U+DCNN
        char hex[2];
        HexLower(&b, 1, hex);
        s->append(hex, 2);
      }
    }
    p++;
    run = p;
  }
  s->append(reinterpret_cast<const char*>(run), end - run);
  s->push_back('"');
}

inline void PutOrNull(std::string* s, const Str& v) {
  if (v.p == nullptr) {
    s->append("null");
  } else {
    Put(s, v);
  }
}

inline void Put(std::string* s, const Lit& v) {
  s->push_back('"');
  s->append(v.p, v.n);
  s->push_back('"');
}

inline void Put(std::string* s, bool v) { s->append(v ? "true" : "false"); }
inline void Put(std::string* s, uint32_t v) { AppendUint(s, v); }
inline void Put(std::string* s, int32_t v) { AppendInt(s, v); }

inline void Put(std::string* s, uint64_t v) {
  if (v <= kMaxExact) {
    AppendUint(s, v);
  } else {
    s->push_back('"');
    AppendUint(s, v);
    s->push_back('"');
  }
}

inline void Put(std::string* s, int64_t v) {
  const bool exact = v <= static_cast<int64_t>(kMaxExact) && v >= -static_cast<int64_t>(kMaxExact);
  if (!exact) s->push_back('"');
  AppendInt(s, v);
  if (!exact) s->push_back('"');
}

template <typename T>
void Put(std::string* s, const List<T>& v) {
  s->push_back('[');
  for (size_t i = 0; i < v.n; i++) {
    if (i > 0) s->push_back(',');
    Put(s, v.items[i]);
  }
  s->push_back(']');
}

template <typename T>
void Put(std::string* s, const Opt<T>& v) {
  if (v.has) {
    Put(s, v.v);
  } else {
    s->append("null");
  }
}

// An optional message: null, or its object.
template <typename T>
void PutOrNull(std::string* s, const T* v) {
  if (v == nullptr) {
    s->append("null");
  } else {
    Put(s, *v);
  }
}

}  // namespace json
}  // namespace ctrace

#endif  // CTRACE_NATIVE_JSON_VALUES_H
