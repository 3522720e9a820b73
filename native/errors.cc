#include "errors.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

namespace ctrace {

std::string NativeError::Code(int err) {
  const char* name = strerrorname_np(err);
  return name != nullptr ? std::string(name) : "E" + std::to_string(err);
}

std::string NativeError::DefaultHint(int err) {
  switch (err) {
    case EPERM:
    case EACCES:
      return std::string("needs root, or ") + kCapabilities;
    case ENOMEM:
      return "out of memory (or RLIMIT_MEMLOCK too low on kernels before 5.11)";
    default:
      return "";
  }
}

Napi::Error NativeError::Make(Napi::Env env, const std::string& step, int err, const std::string& hint,
                              const std::vector<std::string>& libbpf_log) {
  if (err < 0) err = -err;
  const std::string code = Code(err);
  const std::string why = hint.empty() ? DefaultHint(err) : hint;
  std::string message = step + " failed: " + strerror(err) + " (" + code + ")";
  if (!why.empty()) message += ": " + why;

  Napi::Error error = Napi::Error::New(env, message);
  Napi::Object obj = error.Value();
  obj.Set("code", Napi::String::New(env, code));
  obj.Set("errno", Napi::Number::New(env, err));
  obj.Set("step", Napi::String::New(env, step));
  if (!why.empty()) obj.Set("hint", Napi::String::New(env, why));
  if (!libbpf_log.empty()) {
    Napi::Array lines = Napi::Array::New(env, libbpf_log.size());
    for (size_t i = 0; i < libbpf_log.size(); i++) lines.Set(static_cast<uint32_t>(i), libbpf_log[i]);
    obj.Set("libbpfLog", lines);
  }
  return error;
}

void NativeError::Throw(Napi::Env env, const std::string& step, int err, const std::string& hint,
                        const std::vector<std::string>& libbpf_log) {
  throw Make(env, step, err, hint, libbpf_log);
}

}  // namespace ctrace
