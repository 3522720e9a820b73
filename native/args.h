// Argument checks for the addon's JS-facing functions: a wrong type throws a TypeError, a value
// out of range a RangeError, each naming the argument ("<what> must be ...").
#ifndef CTRACE_NATIVE_ARGS_H
#define CTRACE_NATIVE_ARGS_H

#include <napi.h>

#include <cstdint>
#include <string>

namespace ctrace {

[[noreturn]] void ThrowType(Napi::Env env, const std::string& what, const char* expected);
[[noreturn]] void ThrowRange(Napi::Env env, const std::string& what, const std::string& range);

// An integral number in [min, max].
double Integer(Napi::Env env, const Napi::Value& v, const std::string& what, double min, double max);

// A bigint in [0, 2^64).
uint64_t BigU64(Napi::Env env, const Napi::Value& v, const std::string& what);

template <typename T>
Napi::TypedArrayOf<T> Typed(Napi::Env env, const Napi::Value& v, napi_typedarray_type type, const std::string& what,
                            const char* expected) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) ThrowType(env, what, expected);
  return v.As<Napi::TypedArrayOf<T>>();
}

}  // namespace ctrace

#endif  // CTRACE_NATIVE_ARGS_H
