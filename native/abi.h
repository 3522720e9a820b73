// bpf/ctrace.h for C++, and the ABI as the addon was built with it (exported to JS so a test
// can compare it with what TypeScript decodes). The header is plain C and pins its sizes with
// C11 _Static_assert, which g++ does not know: map it to static_assert while it is included.
#ifndef CTRACE_NATIVE_ABI_H
#define CTRACE_NATIVE_ABI_H

#include <napi.h>

#if defined(__cplusplus) && !defined(_Static_assert)
#define _Static_assert static_assert
#define CTRACE_NATIVE_ABI_MAPPED_STATIC_ASSERT
#endif

#include "ctrace.h"

#ifdef CTRACE_NATIVE_ABI_MAPPED_STATIC_ASSERT
#undef _Static_assert
#undef CTRACE_NATIVE_ABI_MAPPED_STATIC_ASSERT
#endif

namespace ctrace {

class AbiInfo {
 public:
  // { version, sizes: { hdr, task, exec, exit, mount, pidVerdict, cgroupVerdict }, statMax }
  static Napi::Object Describe(Napi::Env env);
};

}  // namespace ctrace

#endif  // CTRACE_NATIVE_ABI_H
