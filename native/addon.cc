// The addon's entry point: Init only.
#include <napi.h>

#include "abi.h"
#include "chain_seal.h"
#include "json_lane_binding.h"
#include "log_writer_binding.h"
#include "program.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Program", ctrace::Program::Define(env));
  exports.Set("JsonLane", ctrace::JsonLaneBinding::Define(env));
  exports.Set("LogWriter", ctrace::LogWriterBinding::Define(env));
  exports.Set("abi", ctrace::AbiInfo::Describe(env));
  exports.Set("sealLines", Napi::Function::New(env, ctrace::ChainSeal::SealLines, "sealLines"));
  return exports;
}

}  // namespace

NODE_API_MODULE(ctrace, Init)
