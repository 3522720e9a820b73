// libbpf's print callback: keeps a bounded tail of its warnings (the verifier log among them)
// so that a failed step can say why, and stays quiet otherwise.
#ifndef CTRACE_NATIVE_LIBBPF_LOG_H
#define CTRACE_NATIVE_LIBBPF_LOG_H

#include <cstdarg>
#include <cstdint>
#include <string>
#include <vector>

namespace ctrace {

// Process-wide, like libbpf_set_print itself. Thread-safe: libbpf may print from the poll thread.
class LibbpfLog {
 public:
  // Installs the print callback once. CTRACE_LIBBPF_DEBUG=1 in the environment also echoes
  // every libbpf message (debug level included) to stderr.
  static void Install();
  // A position in the log; Since() returns what was printed after it.
  static uint64_t Mark();
  // At most max_lines of the warnings printed since mark, oldest first.
  static std::vector<std::string> Since(uint64_t mark, size_t max_lines);
  // The body of the libbpf_print_fn_t callback (level is enum libbpf_print_level).
  static int Print(int level, const char* fmt, va_list args);
};

}  // namespace ctrace

#endif  // CTRACE_NATIVE_LIBBPF_LOG_H
