// The addon's entry point: Init only.
#include <napi.h>

#include "abi.h"
#include "json_lane_binding.h"
#include "program.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Program", ctrace::Program::Define(env));
  exports.Set("JsonLane", ctrace::JsonLaneBinding::Define(env));
  exports.Set("abi", ctrace::AbiInfo::Describe(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(ctrace, Init)
