#include "pid_verdicts.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <string.h>

namespace ctrace {

int UpdatePidVerdicts(int map_fd, std::vector<uint32_t>* pids, std::vector<struct ctrace_pid_verdict>* values) {
  const size_t n = pids->size();
  if (n == 0) return 0;
  struct bpf_map_batch_opts opts;
  memset(&opts, 0, sizeof(opts));
  opts.sz = sizeof(opts);
  opts.elem_flags = BPF_ANY;
  __u32 count = static_cast<__u32>(n);
  const int err = bpf_map_update_batch(map_fd, pids->data(), values->data(), &count, &opts);
  if (err == 0) return 0;
  if (-err != EINVAL && -err != ENOTSUP && -err != EOPNOTSUPP && -err != 524 /* ENOTSUPP */) return -err;
  for (size_t i = 0; i < n; i++) {
    if (bpf_map_update_elem(map_fd, &(*pids)[i], &(*values)[i], BPF_ANY) != 0) return errno;
  }
  return 0;
}

}  // namespace ctrace
