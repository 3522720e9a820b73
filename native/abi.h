// bpf/ctrace.h for C++, and the ABI as the addon was built with it (exported to JS so a test
// can compare it with what TypeScript decodes).
#ifndef CTRACE_NATIVE_ABI_H
#define CTRACE_NATIVE_ABI_H

#include <napi.h>

#include "ctrace.h"

namespace ctrace {

class AbiInfo {
 public:
  // { version, sizes: { hdr, task, exec, exit, mount, pidVerdict, cgroupVerdict }, statMax }
  static Napi::Object Describe(Napi::Env env);
};

}  // namespace ctrace

#endif  // CTRACE_NATIVE_ABI_H
