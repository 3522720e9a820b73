// class JsonLaneBinding: the JS face of the JSON lane (json_lane.h). Userland registers
// what it decided per cgroup; Program.start(onBatch, formatter) hands it to the poll thread;
// format(batch) runs the same code on the JS thread, for tests and the benchmark.
#ifndef CTRACE_NATIVE_JSON_LANE_BINDING_H
#define CTRACE_NATIVE_JSON_LANE_BINDING_H

#include <napi.h>

#include <memory>

#include "json_lane.h"
#include "log_writer.h"
#include "out_queue.h"

namespace ctrace {

class JsonLaneBinding : public Napi::ObjectWrap<JsonLaneBinding> {
 public:
  static Napi::Function Define(Napi::Env env);
  // The lane of a JsonLaneBinding object; throws a TypeError for anything else.
  static std::shared_ptr<JsonLane> From(Napi::Env env, const Napi::Value& value, const char* what);
  // Its stdout queue (out_queue.h), for the poll thread; From() has checked the object.
  static std::shared_ptr<OutQueue> OutputOf(const Napi::Value& value);
  // Its audit log's writer (setLog), for the poll thread; null without one.
  static std::shared_ptr<LogWriter> LogOf(const Napi::Value& value);

  explicit JsonLaneBinding(const Napi::CallbackInfo& info);

 private:
  Napi::Value Set(const Napi::CallbackInfo& info);
  Napi::Value Delete(const Napi::CallbackInfo& info);
  Napi::Value Clear(const Napi::CallbackInfo& info);
  Napi::Value Size(const Napi::CallbackInfo& info);
  Napi::Value Counts(const Napi::CallbackInfo& info);
  Napi::Value Format(const Napi::CallbackInfo& info);
  Napi::Value SetOutput(const Napi::CallbackInfo& info);
  Napi::Value SetLog(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value SetDeliverWritten(const Napi::CallbackInfo& info);
  Napi::Value SetHoldLines(const Napi::CallbackInfo& info);
  Napi::Value OutputStats(const Napi::CallbackInfo& info);
  Napi::Value CloseOutput(const Napi::CallbackInfo& info);
  Napi::Value FilenameFound(const Napi::CallbackInfo& info);
  Napi::Value BinaryFound(const Napi::CallbackInfo& info);
  Napi::Value FilenameOf(const Napi::CallbackInfo& info);
  Napi::Value TakeNoted(const Napi::CallbackInfo& info);
  Napi::Value SetNoting(const Napi::CallbackInfo& info);

  std::shared_ptr<JsonLane> lane_;
  std::shared_ptr<OutQueue> out_ = std::make_shared<OutQueue>();
  std::shared_ptr<LogWriter> log_;
};

}  // namespace ctrace

#endif  // CTRACE_NATIVE_JSON_LANE_BINDING_H
