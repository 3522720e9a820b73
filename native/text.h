// Decimal and hex text for the addon's writers (the JSON lane, the log chain).
#ifndef CTRACE_NATIVE_TEXT_H
#define CTRACE_NATIVE_TEXT_H

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>

namespace ctrace {

inline void AppendUint(std::string* s, uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  s->append(buf, r.ptr);
}

inline void AppendInt(std::string* s, int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  s->append(buf, r.ptr);
}

// Two lowercase hex digits per byte into out (2 * n chars).
inline void HexLower(const uint8_t* bytes, size_t n, char* out) {
  static const char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = kHex[bytes[i] >> 4];
    out[2 * i + 1] = kHex[bytes[i] & 15];
  }
}

}  // namespace ctrace

#endif  // CTRACE_NATIVE_TEXT_H
