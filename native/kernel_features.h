// What the running kernel offers: BTF, tracefs, and whether a program's tracepoint exists,
// so optional hooks degrade (autoload off) instead of failing the load.
#ifndef CTRACE_NATIVE_KERNEL_FEATURES_H
#define CTRACE_NATIVE_KERNEL_FEATURES_H

#include <string>

struct btf;

namespace ctrace {

class KernelFeatures {
 public:
  KernelFeatures() = default;
  ~KernelFeatures();
  KernelFeatures(const KernelFeatures&) = delete;
  KernelFeatures& operator=(const KernelFeatures&) = delete;

  static constexpr const char* kVmlinuxBtf = "/sys/kernel/btf/vmlinux";

  static bool HasVmlinuxBtf();
  // The tracefs directory libbpf 1.1 uses: /sys/kernel/debug/tracing when that path exists,
  // else /sys/kernel/tracing.
  static std::string TracefsRoot();
  // Mounts tracefs at TracefsRoot() unless its events/ directory is already there.
  // Returns 0 or a positive errno: EACCES when tracefs is mounted but this process may not
  // search it (it is usually mode 0700: root, or CAP_DAC_READ_SEARCH), EPERM/EBUSY/... when
  // it is not mounted and mounting failed.
  static int EnsureTracefs();
  // The mode bits of TracefsRoot() (0700 where the kernel mounted it), or -1.
  static int TracefsMode();

  // Whether the tracepoint behind a program's SEC() name exists. Understands tp/, tracepoint/
  // (tracefs events/<category>/<name>) and tp_btf/ (typedef btf_trace_<name> in vmlinux BTF);
  // any other section is assumed present. On false, *reason says what is missing.
  bool HookExists(const std::string& section, std::string* reason);

  // Value of enum cgroup_subsys_id's <controller>_cgrp_id in vmlinux BTF, or -1. Takes v1
  // names as /proc/cgroups shows them (blkio -> io_cgrp_id).
  int CgroupSubsysId(const std::string& controller);

 private:
  const struct btf* Vmlinux();

  struct btf* vmlinux_ = nullptr;
  bool vmlinux_tried_ = false;
};

}  // namespace ctrace

#endif  // CTRACE_NATIVE_KERNEL_FEATURES_H
