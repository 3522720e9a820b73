#include "args.h"

#include <cmath>

namespace ctrace {

void ThrowType(Napi::Env env, const std::string& what, const char* expected) {
  throw Napi::TypeError::New(env, what + " must be " + expected);
}

void ThrowRange(Napi::Env env, const std::string& what, const std::string& range) {
  throw Napi::RangeError::New(env, what + " must be " + range);
}

double Integer(Napi::Env env, const Napi::Value& v, const std::string& what, double min, double max) {
  if (!v.IsNumber()) ThrowType(env, what, "a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d) ThrowRange(env, what, "an integer");
  if (d < min || d > max) {
    ThrowRange(env, what, "an integer in [" + std::to_string(static_cast<int64_t>(min)) + ", " +
                              std::to_string(static_cast<int64_t>(max)) + "]");
  }
  return d;
}

uint64_t BigU64(Napi::Env env, const Napi::Value& v, const std::string& what) {
  if (!v.IsBigInt()) ThrowType(env, what, "a bigint");
  bool lossless = false;
  const uint64_t x = v.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) ThrowRange(env, what, "a bigint in [0, 2^64)");
  return x;
}

}  // namespace ctrace
