#include "log_writer_binding.h"

#include <string>

#include "args.h"
#include "errors.h"

namespace ctrace {

namespace {

// Marks LogWriterBinding objects, so JsonLane.setLog() can unwrap one safely (Node-API 8).
const napi_type_tag kTag = {0x63747261636532ull, 0x6c6f67777269746full};

constexpr double kMaxSafe = 9007199254740991.0;

}  // namespace

Napi::Function LogWriterBinding::Define(Napi::Env env) {
  return DefineClass(env, "LogWriter",
                     {
                         InstanceMethod<&LogWriterBinding::SealRecord>("sealRecord"),
                         InstanceMethod<&LogWriterBinding::SealLines>("sealLines"),
                         InstanceMethod<&LogWriterBinding::SwitchFile>("switchFile"),
                         InstanceMethod<&LogWriterBinding::AtSwitch>("atSwitch"),
                         InstanceMethod<&LogWriterBinding::Resume>("resume"),
                         InstanceMethod<&LogWriterBinding::Flush>("flush"),
                         InstanceMethod<&LogWriterBinding::Close>("close"),
                         InstanceMethod<&LogWriterBinding::State>("state"),
                     });
}

std::shared_ptr<LogWriter> LogWriterBinding::From(Napi::Env env, const Napi::Value& value, const char* what) {
  bool tagged = false;
  if (value.IsObject() && napi_check_object_type_tag(env, value, &kTag, &tagged) != napi_ok) tagged = false;
  if (!tagged) throw Napi::TypeError::New(env, std::string(what) + " must be a LogWriter");
  return Unwrap(value.As<Napi::Object>())->writer_;
}

LogWriterBinding::LogWriterBinding(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LogWriterBinding>(info) {
  Napi::Env env = info.Env();
  const char* usage = "LogWriter(fd, fileSize, recordsInFile, seq, head, maxSize, fsyncAlways, holdMs)";
  if (info.Length() < 8 || !info[4].IsString() || !info[6].IsBoolean()) throw Napi::TypeError::New(env, usage);
  LogWriter::Options o;
  o.fd = static_cast<int>(Integer(env, info[0], "LogWriter: fd", 0, 2147483647.0));
  o.file_size = static_cast<uint64_t>(Integer(env, info[1], "LogWriter: fileSize", 0, kMaxSafe));
  o.records_in_file = static_cast<uint64_t>(Integer(env, info[2], "LogWriter: recordsInFile", 0, kMaxSafe));
  o.seq = static_cast<uint64_t>(Integer(env, info[3], "LogWriter: seq", 0, kMaxSafe));
  const std::string head = info[4].As<Napi::String>().Utf8Value();
  if (!ChainSeal::IsHeadHex(head)) throw Napi::TypeError::New(env, "LogWriter: head must be 64 lowercase hex characters");
  head.copy(o.head, 64);
  o.max_size = static_cast<uint64_t>(Integer(env, info[5], "LogWriter: maxSize", 0, kMaxSafe));
  o.fsync_always = info[6].As<Napi::Boolean>().Value();
  o.hold_ms = static_cast<uint32_t>(Integer(env, info[7], "LogWriter: holdMs", 0, 60000));
  writer_ = std::make_shared<LogWriter>(o);
  if (const int err = writer_->Start(); err != 0) NativeError::Throw(env, "log", err, "could not start the audit log's writer thread");
  napi_type_tag_object(env, info.This(), &kTag);
}

// sealRecord(body: string, head: boolean) -> 0 | -errno: one record JavaScript built, chained
// and queued (log_writer.h). EINVAL: body is not a JSON object.
Napi::Value LogWriterBinding::SealRecord(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsBoolean())
    throw Napi::TypeError::New(env, "sealRecord(body: string, head: boolean)");
  const std::string body = info[0].As<Napi::String>().Utf8Value();
  const int err = writer_->SealRecord(reinterpret_cast<const uint8_t*>(body.data()), body.size(), info[1].As<Napi::Boolean>().Value());
  return Napi::Number::New(env, -err);
}

// sealLines(lines: Buffer) -> { err, exec, exit, mount }: the lane's lines, chained and queued;
// err is 0 or a negative errno (nothing sealed).
Napi::Value LogWriterBinding::SealLines(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBuffer()) throw Napi::TypeError::New(env, "sealLines(lines: Buffer)");
  auto lines = info[0].As<Napi::Buffer<uint8_t>>();
  SealCounts counts;
  const int err = writer_->SealLines(lines.Data(), lines.Length(), &counts);
  Napi::Object r = Napi::Object::New(env);
  r.Set("err", Napi::Number::New(env, -err));
  r.Set("exec", Napi::Number::New(env, static_cast<double>(counts.exec)));
  r.Set("exit", Napi::Number::New(env, static_cast<double>(counts.exit)));
  r.Set("mount", Napi::Number::New(env, static_cast<double>(counts.mount)));
  return r;
}

Napi::Value LogWriterBinding::SwitchFile(const Napi::CallbackInfo& info) {
  writer_->SwitchFile();
  return info.Env().Undefined();
}

Napi::Value LogWriterBinding::AtSwitch(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), writer_->AtSwitch());
}

// resume(fd, sizeOnDisk): the writer goes on in the next file.
Napi::Value LogWriterBinding::Resume(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = static_cast<int>(Integer(env, info[0], "resume: fd", 0, 2147483647.0));
  const auto size = static_cast<uint64_t>(Integer(env, info[1], "resume: sizeOnDisk", 0, kMaxSafe));
  writer_->Resume(fd, size);
  return env.Undefined();
}

Napi::Value LogWriterBinding::Flush(const Napi::CallbackInfo& info) {
  writer_->Flush();
  return info.Env().Undefined();
}

Napi::Value LogWriterBinding::Close(const Napi::CallbackInfo& info) {
  writer_->Close();
  return info.Env().Undefined();
}

// state(): { seq, head, records, exec, exit, mount (the poll thread's lines), fileSize,
// queuedBytes, writtenBytes, writes, syncs, full, idle, errno, truncateErrno }
Napi::Value LogWriterBinding::State(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const LogWriter::State s = writer_->state();
  Napi::Object o = Napi::Object::New(env);
  const auto num = [&](const char* k, uint64_t v) { o.Set(k, Napi::Number::New(env, static_cast<double>(v))); };
  num("seq", s.seq);
  o.Set("head", Napi::String::New(env, s.head, 64));
  num("records", s.records);
  num("exec", s.taken.exec);
  num("exit", s.taken.exit);
  num("mount", s.taken.mount);
  num("fileSize", s.file_size);
  num("queuedBytes", s.queued_bytes);
  num("writtenBytes", s.written_bytes);
  num("writes", s.writes);
  num("syncs", s.syncs);
  o.Set("full", Napi::Boolean::New(env, s.full));
  o.Set("idle", Napi::Boolean::New(env, s.idle));
  o.Set("errno", Napi::Number::New(env, s.err));
  o.Set("truncateErrno", Napi::Number::New(env, s.truncate_err));
  return o;
}

}  // namespace ctrace
