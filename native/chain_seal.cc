#include "chain_seal.h"

#include <openssl/evp.h>

#include <charconv>
#include <cstring>
#include <string>

// OpenSSL is Node's own (its binary exports the symbols, or links libcrypto): the JavaScript
// side of the chain hashes through the same library.

namespace ctrace {
namespace {

constexpr size_t kHashHex = 64;
constexpr char kSeqKey[] = ",\"seq\":";
constexpr char kHashKey[] = ",\"hash\":\"";
constexpr size_t kSeqKeyLen = sizeof(kSeqKey) - 1;
constexpr size_t kHashKeyLen = sizeof(kHashKey) - 1;

size_t Digits(uint64_t v) {
  size_t d = 1;
  while (v >= 10) {
    v /= 10;
    d++;
  }
  return d;
}

enum class LineType { kExec, kExit, kMount, kOther };

// The lane's lines (and src/format/json.ts's) have the event type as their first key.
LineType TypeOf(const uint8_t* line, size_t len) {
  static constexpr char kPrefix[] = "{\"type\":\"";
  constexpr size_t kPrefixLen = sizeof(kPrefix) - 1;
  if (len < kPrefixLen + 6 || memcmp(line, kPrefix, kPrefixLen) != 0) return LineType::kOther;
  const char* t = reinterpret_cast<const char*>(line) + kPrefixLen;
  if (memcmp(t, "exec\"", 5) == 0) return LineType::kExec;
  if (memcmp(t, "exit\"", 5) == 0) return LineType::kExit;
  if (memcmp(t, "mount\"", 6) == 0) return LineType::kMount;
  return LineType::kOther;
}

}  // namespace

bool ChainSeal::IsHeadHex(const std::string& s) {
  if (s.size() != kHashHex) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

namespace {

// One digest context and the SHA-256 implementation fetched once: a fetch per record would cost
// more than hashing a short line.
struct Sha256 {
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Sha256() {
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
  }
};

thread_local Sha256 sha;

void ToHex(const unsigned char digest[32], char hex[64]) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 32; i++) {
    hex[2 * i] = kHex[digest[i] >> 4];
    hex[2 * i + 1] = kHex[digest[i] & 15];
  }
}

// The canonical bytes are [record, close): a record's JSON up to where its closing brace goes.
// Closes them, hashes them after head_hex (which becomes the record's hash) and writes the hash
// tail `,"hash":"<hex>"}\n`; returns the end, or null when OpenSSL failed.
uint8_t* SealTail(const uint8_t* record, uint8_t* close, char head_hex[64]) {
  *close = '}';
  unsigned char digest[32];
  if (EVP_DigestInit_ex2(sha.ctx, sha.md, nullptr) != 1 || EVP_DigestUpdate(sha.ctx, head_hex, kHashHex) != 1 ||
      EVP_DigestUpdate(sha.ctx, record, static_cast<size_t>(close + 1 - record)) != 1 ||
      EVP_DigestFinal_ex(sha.ctx, digest, nullptr) != 1)
    return nullptr;
  ToHex(digest, head_hex);
  uint8_t* p = close;
  memcpy(p, kHashKey, kHashKeyLen);
  p += kHashKeyLen;
  memcpy(p, head_hex, kHashHex);
  p += kHashHex;
  *p++ = '"';
  *p++ = '}';
  *p++ = '\n';
  return p;
}

}  // namespace

size_t ChainSeal::SealedSize(const uint8_t* lines, size_t n, uint64_t seq, uint64_t* count) {
  const uint64_t first = seq;
  size_t total = 0;
  size_t start = 0;
  while (start < n) {
    const auto* nl = static_cast<const uint8_t*>(memchr(lines + start, '\n', n - start));
    if (nl == nullptr) return 0;
    const size_t end = static_cast<size_t>(nl - lines);
    if (TypeOf(lines + start, end - start) == LineType::kOther || lines[end - 1] != '}') return 0;
    total += (end - 1 - start) + kSeqKeyLen + Digits(seq++) + kHashKeyLen + kHashHex + 3;  // "}\n
    start = end + 1;
  }
  if (count != nullptr) *count = seq - first;
  return total;
}

bool ChainSeal::SealInto(const uint8_t* lines, size_t n, uint64_t* seq, char head_hex[64], uint8_t* out,
                         SealCounts* counts) {
  if (sha.md == nullptr || sha.ctx == nullptr) return false;
  size_t start = 0;
  while (start < n) {
    const auto* nl = static_cast<const uint8_t*>(memchr(lines + start, '\n', n - start));
    const size_t body = static_cast<size_t>(nl - lines) - 1 - start;  // up to the closing brace
    const uint8_t* line = lines + start;
    switch (TypeOf(line, body + 1)) {
      case LineType::kExec: counts->exec++; break;
      case LineType::kExit: counts->exit++; break;
      default: counts->mount++; break;  // SealedSize let through only the three
    }

    memcpy(out, line, body);
    uint8_t* p = out + body;
    memcpy(p, kSeqKey, kSeqKeyLen);
    p += kSeqKeyLen;
    p = reinterpret_cast<uint8_t*>(std::to_chars(reinterpret_cast<char*>(p), reinterpret_cast<char*>(p) + 20, *seq).ptr);
    p = SealTail(out, p, head_hex);
    if (p == nullptr) return false;
    out = p;
    ++*seq;
    start = static_cast<size_t>(nl - lines) + 1;
  }
  return true;
}

bool ChainSeal::SealRecord(const uint8_t* body, size_t n, bool head_record, uint64_t* seq, char head_hex[64],
                           std::vector<uint8_t>* out) {
  if (sha.md == nullptr || sha.ctx == nullptr || n < 2 || body[0] != '{' || body[n - 1] != '}') return false;
  static constexpr char kPrevKey[] = ",\"prev\":\"";
  constexpr size_t kPrevKeyLen = sizeof(kPrevKey) - 1;
  const size_t at = out->size();
  out->resize(at + (n - 1) + kSeqKeyLen + 20 + kPrevKeyLen + kHashHex + 1 + kHashKeyLen + kHashHex + 3);
  uint8_t* const start = out->data() + at;
  memcpy(start, body, n - 1);
  uint8_t* p = start + n - 1;
  memcpy(p, kSeqKey, kSeqKeyLen);
  p += kSeqKeyLen;
  p = reinterpret_cast<uint8_t*>(std::to_chars(reinterpret_cast<char*>(p), reinterpret_cast<char*>(p) + 20, *seq).ptr);
  if (head_record) {
    memcpy(p, kPrevKey, kPrevKeyLen);
    p += kPrevKeyLen;
    memcpy(p, head_hex, kHashHex);
    p += kHashHex;
    *p++ = '"';
  }
  p = SealTail(start, p, head_hex);
  if (p == nullptr) {
    out->resize(at);
    return false;
  }
  out->resize(static_cast<size_t>(p - out->data()));
  ++*seq;
  return true;
}

Napi::Value ChainSeal::SealLines(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsBuffer() || !info[1].IsNumber() || !info[2].IsString() || !info[3].IsBuffer())
    throw Napi::TypeError::New(env, "sealLines(lines: Buffer, seq: number, head: string, into: Buffer)");
  auto lines = info[0].As<Napi::Buffer<uint8_t>>();
  const double seq_in = info[1].As<Napi::Number>().DoubleValue();
  std::string head = info[2].As<Napi::String>().Utf8Value();
  auto into = info[3].As<Napi::Buffer<uint8_t>>();
  if (!(seq_in >= 0 && seq_in <= 9007199254740991.0) || seq_in != static_cast<double>(static_cast<uint64_t>(seq_in)))
    throw Napi::RangeError::New(env, "sealLines: seq must be a safe non-negative integer");
  if (!IsHeadHex(head)) throw Napi::TypeError::New(env, "sealLines: head must be 64 lowercase hex characters");
  uint64_t seq = static_cast<uint64_t>(seq_in);
  const size_t size = ChainSeal::SealedSize(lines.Data(), lines.Length(), seq);
  if (size == 0 && lines.Length() != 0)
    throw Napi::TypeError::New(env, "sealLines: every line must be an event's JSON object ({\"type\":\"exec|exit|mount\"...}) ended by a newline");
  Napi::Object r = Napi::Object::New(env);
  r.Set("size", Napi::Number::New(env, static_cast<double>(size)));
  if (size > into.Length()) return r;  // not sealed: the caller brings a block of `size` bytes
  SealCounts counts;
  if (!ChainSeal::SealInto(lines.Data(), lines.Length(), &seq, head.data(), into.Data(), &counts))
    throw Napi::Error::New(env, "sealLines: SHA-256 failed in OpenSSL (Node's crypto)");
  r.Set("head", Napi::String::New(env, head));
  r.Set("exec", Napi::Number::New(env, static_cast<double>(counts.exec)));
  r.Set("exit", Napi::Number::New(env, static_cast<double>(counts.exit)));
  r.Set("mount", Napi::Number::New(env, static_cast<double>(counts.mount)));
  return r;
}

}  // namespace ctrace
