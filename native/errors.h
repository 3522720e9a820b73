// errno -> JS Error with code, errno, step and hint: the one place native failures become JS values.
#ifndef CTRACE_NATIVE_ERRORS_H
#define CTRACE_NATIVE_ERRORS_H

#include <napi.h>

#include <string>
#include <vector>

namespace ctrace {

// A native failure on its way to JS. Thrown (as a C++ exception) by synchronous
// code on the JS thread; the poll thread never throws, it carries errno in its batch.
class NativeError {
 public:
  // "<step> failed: <strerror> (<code>): <hint>"; err is a positive errno.
  // An empty hint picks a default one for the errno (EPERM/EACCES -> privileges).
  static Napi::Error Make(Napi::Env env, const std::string& step, int err, const std::string& hint = "",
                          const std::vector<std::string>& libbpf_log = {});
  // Make() and throw it.
  [[noreturn]] static void Throw(Napi::Env env, const std::string& step, int err, const std::string& hint = "",
                                 const std::vector<std::string>& libbpf_log = {});
  // "EPERM"; "E<n>" for numbers glibc has no name for.
  static std::string Code(int err);
  // The hint used when the caller gives none.
  static std::string DefaultHint(int err);
  // What a user other than root needs, named once (src/util/capabilities.ts says the same; a test
  // checks they agree): tracefs is usually mode 0700, hence CAP_DAC_READ_SEARCH.
  static constexpr const char* kCapabilities = "CAP_BPF, CAP_PERFMON and CAP_DAC_READ_SEARCH";
};

}  // namespace ctrace

#endif  // CTRACE_NATIVE_ERRORS_H
