#include "line_chain.h"

#include <dlfcn.h>
#include <string.h>

#include <string>
#include <vector>

#include "args.h"
#include "text.h"

namespace ctrace {

namespace {

using Sha256Fn = unsigned char* (*)(const unsigned char*, size_t, unsigned char*);

// OpenSSL's one-shot SHA256(), from the Node.js process (no link-time dependency on libssl).
Sha256Fn Sha256() {
  static Sha256Fn fn = reinterpret_cast<Sha256Fn>(dlsym(RTLD_DEFAULT, "SHA256"));
  return fn;
}

constexpr double kMaxSafe = 9007199254740991.0;  // Number.MAX_SAFE_INTEGER

}  // namespace

Napi::Value ChainJsonLines(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 6 || !info[0].IsBuffer()) throw Napi::TypeError::New(env, "chainJsonLines: lines must be a Buffer");
  const auto lines = info[0].As<Napi::Buffer<uint8_t>>();
  size_t offset = static_cast<size_t>(Integer(env, info[1], "chainJsonLines: offset", 0, kMaxSafe));
  uint64_t seq = static_cast<uint64_t>(Integer(env, info[2], "chainJsonLines: seq", 0, kMaxSafe));
  if (!info[3].IsString()) throw Napi::TypeError::New(env, "chainJsonLines: head must be a string");
  std::string head = info[3].As<Napi::String>().Utf8Value();
  if (head.size() != 64) throw Napi::RangeError::New(env, "chainJsonLines: head must be 64 hex characters");
  const auto room = static_cast<uint64_t>(Integer(env, info[4], "chainJsonLines: room", 0, kMaxSafe));
  const auto records_in_file =
      static_cast<uint64_t>(Integer(env, info[5], "chainJsonLines: recordsInFile", 0, kMaxSafe));
  const Sha256Fn sha256 = Sha256();
  if (sha256 == nullptr) throw Napi::Error::New(env, "chainJsonLines: this Node.js does not export OpenSSL's SHA256");

  const uint8_t* data = lines.Data();
  const size_t size = lines.Length();
  if (offset > size) offset = size;
  std::vector<uint8_t> out;
  out.reserve((size - offset) + (size - offset) / 4 + 128);
  std::string buf;  // head || canonical
  uint64_t count = 0, exec = 0, exit = 0, mount = 0;
  unsigned char md[32];
  while (offset < size) {
    const void* nl = memchr(data + offset, '\n', size - offset);
    if (nl == nullptr) break;  // not a whole line: left for the caller to see
    const size_t end = static_cast<const uint8_t*>(nl) - data;
    if (end - offset < 12 || data[end - 1] != '}') throw Napi::Error::New(env, "chainJsonLines: not an event line");
    const char* line = reinterpret_cast<const char*>(data + offset);
    const size_t body = end - offset - 1;  // without its final '}'
    buf.assign(head);
    buf.append(line, body);
    buf.append(",\"seq\":");
    AppendUint(&buf, seq);
    buf.push_back('}');
    sha256(reinterpret_cast<const unsigned char*>(buf.data()), buf.size(), md);
    HexLower(md, sizeof(md), &head[0]);
    // written: canonical without '}' + ,"hash":"…"}\n
    out.insert(out.end(), buf.begin() + 64, buf.end() - 1);
    static const char kTail[] = ",\"hash\":\"";
    out.insert(out.end(), kTail, kTail + sizeof(kTail) - 1);
    out.insert(out.end(), head.begin(), head.end());
    out.push_back('"');
    out.push_back('}');
    out.push_back('\n');
    // {"type":"exec | exit | mount
    if (line[9] == 'm') mount++;
    else if (line[11] == 'e') exec++;
    else exit++;
    seq++;
    count++;
    offset = end + 1;
    if (room > 0 && out.size() >= room && records_in_file + count > 1) break;
  }
  Napi::Object r = Napi::Object::New(env);
  // handed over without a copy; V8 is told the size, so it collects the Buffer in time
  auto* owned = new std::vector<uint8_t>(std::move(out));
  Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(owned->capacity()));
  r.Set("bytes", Napi::Buffer<uint8_t>::NewOrCopy(
                     env, owned->data(), owned->size(),
                     [](Napi::Env fenv, uint8_t* /*data*/, std::vector<uint8_t>* v) {
                       Napi::MemoryManagement::AdjustExternalMemory(fenv, -static_cast<int64_t>(v->capacity()));
                       delete v;
                     },
                     owned));
  r.Set("offset", Napi::Number::New(env, static_cast<double>(offset)));
  r.Set("count", Napi::Number::New(env, static_cast<double>(count)));
  r.Set("seq", Napi::Number::New(env, static_cast<double>(seq)));
  r.Set("head", Napi::String::New(env, head));
  r.Set("exec", Napi::Number::New(env, static_cast<double>(exec)));
  r.Set("exit", Napi::Number::New(env, static_cast<double>(exit)));
  r.Set("mount", Napi::Number::New(env, static_cast<double>(mount)));
  return r;
}

}  // namespace ctrace
