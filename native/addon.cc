// The addon's entry point: Init only.
#include <napi.h>

#include "abi.h"
#include "line_formatter.h"
#include "tracer.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Tracer", ctrace::Tracer::Define(env));
  exports.Set("LineFormatter", ctrace::LineFormatter::Define(env));
  exports.Set("abi", ctrace::AbiInfo::Describe(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(ctrace, Init)
