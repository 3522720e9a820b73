#include "json_lane_binding.h"

#include <errno.h>
#include <string.h>

#include "args.h"
#include "errors.h"
#include "log_writer_binding.h"

#include <string>
#include <vector>

namespace ctrace {

namespace {

// A string JavaScript decoded from kernel bytes (src/util/bytes.ts decodeBytes) back to those bytes:
// UTF-8, except that a lone U+DCNN is the invalid byte 0xNN it stands for. False for what
// decodeBytes never yields (another lone surrogate): the caller then does not remember it.
bool KernelBytes(const Napi::Value& v, std::string* out) {
  const std::u16string u = v.As<Napi::String>().Utf16Value();
  out->clear();
  for (size_t i = 0; i < u.size(); i++) {
    uint32_t c = u[i];
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < u.size() && u[i + 1] >= 0xdc00 && u[i + 1] <= 0xdfff) {
      c = 0x10000 + ((c - 0xd800) << 10) + (u[++i] - 0xdc00);
    } else if (c >= 0xdc80 && c <= 0xdcff) {
      out->push_back(static_cast<char>(c & 0xff));
      continue;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      return false;
    }
    if (c < 0x80) {
      out->push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      out->push_back(static_cast<char>(0xc0 | (c >> 6)));
      out->push_back(static_cast<char>(0x80 | (c & 0x3f)));
    } else if (c < 0x10000) {
      out->push_back(static_cast<char>(0xe0 | (c >> 12)));
      out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (c & 0x3f)));
    } else {
      out->push_back(static_cast<char>(0xf0 | (c >> 18)));
      out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (c & 0x3f)));
    }
  }
  return true;
}

// A string or null argument as kernel bytes into *out (*has: not null); false: not rememberable.
bool StringOrNull(Napi::Env env, const Napi::Value& v, const char* what, bool* has, std::string* out) {
  if (v.IsNull()) {
    *has = false;
    out->clear();
    return true;
  }
  if (!v.IsString()) throw Napi::TypeError::New(env, std::string(what) + " must be a string or null");
  *has = true;
  return KernelBytes(v, out);
}

// Marks JsonLaneBinding objects, so Program.start() can unwrap one safely (Node-API 8).
const napi_type_tag kTag = {0x63747261636531ull, 0x6c696e6566726d74ull};

}  // namespace

Napi::Function JsonLaneBinding::Define(Napi::Env env) {
  return DefineClass(env, "JsonLane",
                     {
                         InstanceMethod<&JsonLaneBinding::Set>("set"),
                         InstanceMethod<&JsonLaneBinding::Delete>("delete"),
                         InstanceMethod<&JsonLaneBinding::Clear>("clear"),
                         InstanceMethod<&JsonLaneBinding::Size>("size"),
                         InstanceMethod<&JsonLaneBinding::Counts>("counts"),
                         InstanceMethod<&JsonLaneBinding::Format>("format"),
                         InstanceMethod<&JsonLaneBinding::SetOutput>("setOutput"),
                         InstanceMethod<&JsonLaneBinding::SetLog>("setLog"),
                         InstanceMethod<&JsonLaneBinding::Write>("write"),
                         InstanceMethod<&JsonLaneBinding::SetDeliverWritten>("setDeliverWritten"),
                         InstanceMethod<&JsonLaneBinding::SetHoldLines>("setHoldLines"),
                         InstanceMethod<&JsonLaneBinding::SetNoting>("setNoting"),
                         InstanceMethod<&JsonLaneBinding::OutputStats>("outputStats"),
                         InstanceMethod<&JsonLaneBinding::CloseOutput>("closeOutput"),
                         InstanceMethod<&JsonLaneBinding::FilenameFound>("filenameFound"),
                         InstanceMethod<&JsonLaneBinding::BinaryFound>("binaryFound"),
                         InstanceMethod<&JsonLaneBinding::FilenameOf>("filenameOf"),
                         InstanceMethod<&JsonLaneBinding::TakeNoted>("takeNoted"),
                     });
}

std::shared_ptr<JsonLane> JsonLaneBinding::From(Napi::Env env, const Napi::Value& value, const char* what) {
  bool tagged = false;
  if (value.IsObject()) {
    napi_status status = napi_check_object_type_tag(env, value, &kTag, &tagged);
    if (status != napi_ok) tagged = false;
  }
  if (!tagged) throw Napi::TypeError::New(env, std::string(what) + " must be a JsonLane");
  return Unwrap(value.As<Napi::Object>())->lane_;
}

std::shared_ptr<OutQueue> JsonLaneBinding::OutputOf(const Napi::Value& value) {
  return Unwrap(value.As<Napi::Object>())->out_;
}

std::shared_ptr<LogWriter> JsonLaneBinding::LogOf(const Napi::Value& value) {
  return Unwrap(value.As<Napi::Object>())->log_;
}

JsonLaneBinding::JsonLaneBinding(const Napi::CallbackInfo& info) : Napi::ObjectWrap<JsonLaneBinding>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBigInt())
    throw Napi::TypeError::New(env, "JsonLane(clockOffsetNs): clockOffsetNs must be a bigint");
  bool lossless = false;
  const int64_t offset = info[0].As<Napi::BigInt>().Int64Value(&lossless);
  if (!lossless) throw Napi::RangeError::New(env, "JsonLane(clockOffsetNs): clockOffsetNs must fit in 64 bits");
  // the boot id processIds are made of (src/events/identity.ts bootId())
  std::string boot_id = "unknown-boot";
  if (info.Length() >= 2 && !info[1].IsUndefined()) {
    if (!info[1].IsString()) throw Napi::TypeError::New(env, "JsonLane(clockOffsetNs, bootId): bootId must be a string");
    boot_id = info[1].As<Napi::String>().Utf8Value();
  }
  // CAP_* names by bit (src/events/identity.ts), given once: no second list of them here
  std::vector<std::string> caps;
  if (info.Length() >= 3 && !info[2].IsUndefined()) {
    if (!info[2].IsArray()) throw Napi::TypeError::New(env, "JsonLane(clockOffsetNs, bootId, capabilityNames): capabilityNames must be an array");
    const auto a = info[2].As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length() && i < 64; i++) {
      const Napi::Value n = a.Get(i);
      if (!n.IsString()) throw Napi::TypeError::New(env, "JsonLane: capabilityNames must be strings");
      caps.push_back(n.As<Napi::String>().Utf8Value());
    }
  }
  lane_ = std::make_shared<JsonLane>(offset, std::move(boot_id), caps);
  napi_type_tag_object(env, info.This(), &kTag);
}

// set(key, fragment, emit, verdict, v1)
Napi::Value JsonLaneBinding::Set(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint64_t key = BigU64(env, info[0], "set: key");
  if (!info[1].IsString()) throw Napi::TypeError::New(env, "set: fragment must be a string");
  if (!info[2].IsBoolean()) throw Napi::TypeError::New(env, "set: emit must be a boolean");
  if (!info[4].IsBoolean()) throw Napi::TypeError::New(env, "set: v1 must be a boolean");
  if (!info[5].IsBoolean()) throw Napi::TypeError::New(env, "set: pidnsPending must be a boolean");
  const auto verdict = static_cast<uint32_t>(Integer(env, info[3], "set: verdict", 0, 255));
  JsonLane::Cgroup cg;
  cg.fragment = info[1].As<Napi::String>().Utf8Value();
  cg.emit = info[2].As<Napi::Boolean>().Value();
  cg.verdict = static_cast<uint8_t>(verdict);
  cg.v1 = info[4].As<Napi::Boolean>().Value();
  cg.pidns_pending = info[5].As<Napi::Boolean>().Value();
  lane_->Set(key, std::move(cg));
  return env.Undefined();
}

Napi::Value JsonLaneBinding::Delete(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), lane_->Delete(BigU64(info.Env(), info[0], "delete: key")));
}

Napi::Value JsonLaneBinding::Clear(const Napi::CallbackInfo& info) {
  lane_->Clear();
  return info.Env().Undefined();
}

Napi::Value JsonLaneBinding::Size(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(lane_->Size()));
}

Napi::Value JsonLaneBinding::Counts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const JsonLane::Counts c = lane_->counts();
  Napi::Object o = Napi::Object::New(env);
  o.Set("exec", Napi::Number::New(env, static_cast<double>(c.exec)));
  o.Set("exit", Napi::Number::New(env, static_cast<double>(c.exit)));
  o.Set("mount", Napi::Number::New(env, static_cast<double>(c.mount)));
  o.Set("filtered", Napi::Number::New(env, static_cast<double>(c.filtered)));
  o.Set("raw", Napi::Number::New(env, static_cast<double>(c.raw)));
  o.Set("notedDropped", Napi::Number::New(env, static_cast<double>(lane_->noted_dropped())));
  return o;
}

// setOutput(fd, maxBytes?): the fd lines are written to, through a bounded queue and a writer
// thread of its own (out_queue.h); once only. The caller keeps fd open.
Napi::Value JsonLaneBinding::SetOutput(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "setOutput: fd must be a number");
  const int fd = info[0].As<Napi::Number>().Int32Value();
  size_t max_bytes = OutQueue::kDefaultMaxBytes;
  if (info.Length() > 1 && !info[1].IsUndefined())
    max_bytes = static_cast<size_t>(Integer(env, info[1], "setOutput: maxBytes", 4096, 1099511627776.0));
  if (fd < 0) return env.Undefined();
  if (const int err = out_->Open(fd, max_bytes); err != 0) NativeError::Throw(env, "stdout", err, "could not start the writer thread");
  return env.Undefined();
}

// setLog(writer: LogWriter): the poll thread seals and writes the lines of the audit log this
// writer holds (log_writer.h) instead of handing them to JavaScript; before start(), once.
Napi::Value JsonLaneBinding::SetLog(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<LogWriter> log = LogWriterBinding::From(env, info.Length() > 0 ? info[0] : env.Undefined(), "setLog: writer");
  if (log_) NativeError::Throw(env, "log", EALREADY, "the lane already has an audit log");
  log_ = std::move(log);
  return env.Undefined();
}

// write(bytes): queued for the output, in order with the poll thread's lines; never waits.
// Throws the errno (step 'stdout') once the output failed; after one, every write fails the same way.
Napi::Value JsonLaneBinding::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int err = 0;
  if (info.Length() >= 1 && info[0].IsBuffer()) {
    const auto b = info[0].As<Napi::Buffer<uint8_t>>();
    err = out_->Push(b.Data(), b.Length());
  } else if (info.Length() >= 1 && info[0].IsString()) {
    const std::string s = info[0].As<Napi::String>().Utf8Value();
    err = out_->Push(s.data(), s.size());
  } else {
    throw Napi::TypeError::New(env, "write: bytes must be a Buffer or a string");
  }
  if (err != 0) NativeError::Throw(env, "stdout", err, err == EPIPE ? "the reader of stdout went away" : "");
  return env.Undefined();
}

// outputStats(): {writtenBytes, writes, droppedLines, droppedBytes, queuedBytes, undeliveredLines, errno}
Napi::Value JsonLaneBinding::OutputStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const OutQueue::Counts c = out_->counts();
  Napi::Object o = Napi::Object::New(env);
  o.Set("writtenBytes", Napi::Number::New(env, static_cast<double>(c.written_bytes)));
  o.Set("writes", Napi::Number::New(env, static_cast<double>(c.writes)));
  o.Set("droppedLines", Napi::Number::New(env, static_cast<double>(c.dropped_lines)));
  o.Set("droppedBytes", Napi::Number::New(env, static_cast<double>(c.dropped_bytes)));
  o.Set("queuedBytes", Napi::Number::New(env, static_cast<double>(c.queued_bytes)));
  o.Set("undeliveredLines", Napi::Number::New(env, static_cast<double>(c.undelivered_lines)));
  o.Set("errno", Napi::Number::New(env, c.err));
  return o;
}

// closeOutput(): stops the writer thread (at most a poll interval); what is still queued is
// counted as undelivered. Idempotent.
Napi::Value JsonLaneBinding::CloseOutput(const Napi::CallbackInfo& info) {
  out_->Close();
  return info.Env().Undefined();
}

Napi::Value JsonLaneBinding::SetDeliverWritten(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBoolean()) throw Napi::TypeError::New(env, "setDeliverWritten: on must be a boolean");
  lane_->SetDeliverWritten(info[0].As<Napi::Boolean>().Value());
  return env.Undefined();
}

// setHoldLines(on): without an fd, lines reach JS in batches held up to the reader's hold.
Napi::Value JsonLaneBinding::SetHoldLines(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBoolean()) throw Napi::TypeError::New(env, "setHoldLines: on must be a boolean");
  lane_->SetHoldLines(info[0].As<Napi::Boolean>().Value());
  return env.Undefined();
}

// setNoting(on): whether the lane keeps its exec and exit records for takeNoted().
Napi::Value JsonLaneBinding::SetNoting(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBoolean()) throw Napi::TypeError::New(env, "setNoting: on must be a boolean");
  lane_->SetNoting(info[0].As<Napi::Boolean>().Value());
  return env.Undefined();
}

// filenameFound(pid, startNs, filename | null): an ancestor's binary as JavaScript found it.
Napi::Value JsonLaneBinding::FilenameFound(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto pid = static_cast<uint32_t>(Integer(env, info[0], "filenameFound: pid", 0, 4294967295.0));
  const uint64_t start = BigU64(env, info[1], "filenameFound: startNs");
  bool has = false;
  std::string name;
  if (StringOrNull(env, info[2], "filenameFound: filename", &has, &name)) lane_->FilenameFound(pid, start, has, std::move(name));
  return env.Undefined();
}

// binaryFound(dev, ino, ctimeNs, hostPath | null, sha256 | null, hashError | null): what
// src/enrich/binary-hash.ts cached for the binary.
Napi::Value JsonLaneBinding::BinaryFound(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto dev = static_cast<uint32_t>(Integer(env, info[0], "binaryFound: dev", 0, 4294967295.0));
  const uint64_t ino = BigU64(env, info[1], "binaryFound: ino");
  const uint64_t ctime = BigU64(env, info[2], "binaryFound: ctimeNs");
  ExecMemory::Binary b;
  if (!StringOrNull(env, info[3], "binaryFound: hostPath", &b.has_host_path, &b.host_path) ||
      !StringOrNull(env, info[4], "binaryFound: sha256", &b.has_sha256, &b.sha256) ||
      !StringOrNull(env, info[5], "binaryFound: hashError", &b.has_hash_error, &b.hash_error))
    return env.Undefined();
  lane_->BinaryFound(dev, ino, ctime, std::move(b));
  return env.Undefined();
}

// filenameOf(pid, startNs): the bytes of the filename an exec record of that process named,
// null when it named none, undefined when no exec of it was seen.
Napi::Value JsonLaneBinding::FilenameOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto pid = static_cast<uint32_t>(Integer(env, info[0], "filenameOf: pid", 0, 4294967295.0));
  const uint64_t start = BigU64(env, info[1], "filenameOf: startNs");
  bool known = false;
  std::string name;
  if (!lane_->FilenameOf(pid, start, &known, &name)) return env.Undefined();
  if (!known) return env.Null();
  return Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(name.data()), name.size());
}

// takeNoted(): the exec and exit records the lane took since the last call, or null.
Napi::Value JsonLaneBinding::TakeNoted(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::vector<uint8_t> noted = lane_->TakeNoted();
  if (noted.empty()) return env.Null();
  return Napi::Buffer<uint8_t>::Copy(env, noted.data(), noted.size());
}

// format(batch): the chunked lane batch for a batch of raw records, as the poll thread builds
// it. A header that contradicts the batch's length ends it: the rest goes raw, untouched.
Napi::Value JsonLaneBinding::Format(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBuffer()) throw Napi::TypeError::New(env, "format: batch must be a Buffer");
  const auto in = info[0].As<Napi::Buffer<uint8_t>>();
  const uint8_t* p = in.Data();
  const size_t n = in.Length();
  std::vector<uint8_t> out;
  out.reserve(n + 64);
  JsonLane::Writer w(&out);
  size_t o = 0;
  while (o + sizeof(struct ctrace_hdr) <= n) {
    uint32_t size;
    memcpy(&size, p + o + offsetof(struct ctrace_hdr, size), sizeof(size));
    if (size < sizeof(struct ctrace_hdr) || size > n - o) break;
    lane_->Append(p + o, size, &w);
    o += size;
  }
  if (o < n) {
    w.Close();
    const uint32_t header[2] = {JsonLane::kChunkRaw, static_cast<uint32_t>(n - o)};
    const auto* h = reinterpret_cast<const uint8_t*>(header);
    out.insert(out.end(), h, h + sizeof(header));
    out.insert(out.end(), p + o, p + n);
  }
  w.Close();
  return Napi::Buffer<uint8_t>::Copy(env, out.data(), out.size());
}

}  // namespace ctrace
