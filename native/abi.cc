#include "abi.h"

#include <cstddef>

namespace ctrace {

// The offsets userland decodes most; a mismatch here means bpf/ctrace.h changed shape.
static_assert(offsetof(struct ctrace_exec, task) == 16, "task follows the header");
static_assert(offsetof(struct ctrace_task, cgroup_key) == 32, "cgroup_key offset");

Napi::Object AbiInfo::Describe(Napi::Env env) {
  Napi::Object sizes = Napi::Object::New(env);
  sizes.Set("hdr", Napi::Number::New(env, sizeof(struct ctrace_hdr)));
  sizes.Set("task", Napi::Number::New(env, sizeof(struct ctrace_task)));
  sizes.Set("exec", Napi::Number::New(env, sizeof(struct ctrace_exec)));
  sizes.Set("ancestor", Napi::Number::New(env, sizeof(struct ctrace_ancestor)));
  sizes.Set("exit", Napi::Number::New(env, sizeof(struct ctrace_exit)));
  sizes.Set("mount", Napi::Number::New(env, sizeof(struct ctrace_mount)));
  sizes.Set("pidVerdict", Napi::Number::New(env, sizeof(struct ctrace_pid_verdict)));
  sizes.Set("cgroupGone", Napi::Number::New(env, sizeof(struct ctrace_cgroup_gone)));
  sizes.Set("cgroupVerdict", Napi::Number::New(env, sizeof(struct ctrace_cgroup_verdict)));

  Napi::Object abi = Napi::Object::New(env);
  abi.Set("version", Napi::Number::New(env, CTRACE_ABI_VERSION));
  abi.Set("sizes", sizes);
  abi.Set("statMax", Napi::Number::New(env, CTRACE_STAT_MAX));
  abi.Freeze();
  return abi;
}

}  // namespace ctrace
