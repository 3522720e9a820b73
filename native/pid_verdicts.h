// Writes PID verdicts into the kernel's pid_verdicts map: the JS thread (setVerdicts) and the
// poll thread (verdicts of execs the JSON lane formatted) share this one writer.
#ifndef CTRACE_NATIVE_PID_VERDICTS_H
#define CTRACE_NATIVE_PID_VERDICTS_H

#include <cstdint>
#include <vector>

#include "ctrace.h"

namespace ctrace {

// One map batch update, or one update per element on kernels without batch ops for the map
// type. Returns 0 or a positive errno. Never throws: the poll thread calls it too.
int UpdatePidVerdicts(int map_fd, std::vector<uint32_t>* pids, std::vector<struct ctrace_pid_verdict>* values);

}  // namespace ctrace

#endif  // CTRACE_NATIVE_PID_VERDICTS_H
