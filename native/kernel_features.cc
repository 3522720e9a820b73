#include "kernel_features.h"

#include <bpf/btf.h>
#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>

namespace ctrace {

namespace {

bool PathExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

bool StartsWith(const std::string& s, const char* prefix, std::string* rest) {
  const std::string p(prefix);
  if (s.compare(0, p.size(), p) != 0) return false;
  *rest = s.substr(p.size());
  return true;
}

}  // namespace

KernelFeatures::~KernelFeatures() { btf__free(vmlinux_); }

bool KernelFeatures::HasVmlinuxBtf() { return PathExists(kVmlinuxBtf); }

std::string KernelFeatures::TracefsRoot() {
  // Same test as libbpf's use_debugfs(): attach must find events where we checked them.
  return PathExists("/sys/kernel/debug/tracing") ? "/sys/kernel/debug/tracing" : "/sys/kernel/tracing";
}

int KernelFeatures::EnsureTracefs() {
  const std::string root = TracefsRoot();
  struct stat st;
  if (stat((root + "/events").c_str(), &st) == 0) return 0;
  // Mounted, but its directory's mode keeps this process out: mounting again would not help.
  if (errno == EACCES) return EACCES;
  if (mount("nodev", root.c_str(), "tracefs", 0, nullptr) != 0) return errno;
  return PathExists(root + "/events") ? 0 : ENOENT;
}

int KernelFeatures::TracefsMode() {
  struct stat st;
  return stat(TracefsRoot().c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 07777) : -1;
}

const struct btf* KernelFeatures::Vmlinux() {
  if (!vmlinux_tried_) {
    vmlinux_tried_ = true;
    vmlinux_ = btf__load_vmlinux_btf();  // libbpf 1.x: NULL + errno on failure
  }
  return vmlinux_;
}

bool KernelFeatures::HookExists(const std::string& section, std::string* reason) {
  std::string rest;
  if (StartsWith(section, "tp/", &rest) || StartsWith(section, "tracepoint/", &rest)) {
    const std::string dir = TracefsRoot() + "/events/" + rest;
    if (PathExists(dir)) return true;
    *reason = "tracepoint " + rest + " not found in " + TracefsRoot() + "/events";
    return false;
  }
  if (StartsWith(section, "tp_btf/", &rest)) {
    const struct btf* btf = Vmlinux();
    if (btf == nullptr) {
      *reason = "vmlinux BTF not loadable";
      return false;
    }
    if (btf__find_by_name_kind(btf, ("btf_trace_" + rest).c_str(), BTF_KIND_TYPEDEF) > 0) return true;
    *reason = "BTF tracepoint btf_trace_" + rest + " not found in vmlinux BTF";
    return false;
  }
  return true;
}

int KernelFeatures::CgroupSubsysId(const std::string& controller) {
  const struct btf* btf = Vmlinux();
  if (btf == nullptr) return -1;
  const int id = btf__find_by_name_kind(btf, "cgroup_subsys_id", BTF_KIND_ENUM);
  if (id <= 0) return -1;
  const struct btf_type* t = btf__type_by_id(btf, id);
  const struct btf_enum* e = btf_enum(t);
  // v1 names a few controllers differently from the kernel's subsystem (blkio is io).
  const std::string want = (controller == "blkio" ? std::string("io") : controller) + "_cgrp_id";
  for (unsigned i = 0; i < btf_vlen(t); i++, e++) {
    const char* name = btf__name_by_offset(btf, e->name_off);
    if (name != nullptr && want == name) return e->val;
  }
  return -1;
}

}  // namespace ctrace
