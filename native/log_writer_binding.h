// class LogWriterBinding: the JS face of a LogWriter (log_writer.h), created by the audit log
// (src/audit/log-file.ts) and given to the poll thread through JsonLane.setLog().
#ifndef CTRACE_NATIVE_LOG_WRITER_BINDING_H
#define CTRACE_NATIVE_LOG_WRITER_BINDING_H

#include <napi.h>

#include <memory>

#include "log_writer.h"

namespace ctrace {

class LogWriterBinding : public Napi::ObjectWrap<LogWriterBinding> {
 public:
  static Napi::Function Define(Napi::Env env);
  // The writer of a LogWriterBinding object; throws a TypeError for anything else.
  static std::shared_ptr<LogWriter> From(Napi::Env env, const Napi::Value& value, const char* what);

  // new LogWriter(fd, fileSize, recordsInFile, seq, head, maxSize, fsyncAlways, holdMs)
  explicit LogWriterBinding(const Napi::CallbackInfo& info);

 private:
  Napi::Value SealRecord(const Napi::CallbackInfo& info);
  Napi::Value SealLines(const Napi::CallbackInfo& info);
  Napi::Value SwitchFile(const Napi::CallbackInfo& info);
  Napi::Value AtSwitch(const Napi::CallbackInfo& info);
  Napi::Value Resume(const Napi::CallbackInfo& info);
  Napi::Value Flush(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value State(const Napi::CallbackInfo& info);

  std::shared_ptr<LogWriter> writer_;
};

}  // namespace ctrace

#endif  // CTRACE_NATIVE_LOG_WRITER_BINDING_H
