#include "libbpf_log.h"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <deque>
#include <mutex>

namespace ctrace {

namespace {

constexpr size_t kMaxLines = 400;     // tail kept across all messages
constexpr size_t kMaxLineLen = 1024;  // longer lines are cut

std::mutex g_mutex;
std::deque<std::string> g_lines;  // newest last
uint64_t g_seq = 0;               // lines ever appended; g_lines.back() is number g_seq
bool g_echo = false;

int PrintTrampoline(enum libbpf_print_level level, const char* fmt, va_list args) {
  return LibbpfLog::Print(static_cast<int>(level), fmt, args);
}

}  // namespace

void LibbpfLog::Install() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* echo = getenv("CTRACE_LIBBPF_DEBUG");
    g_echo = echo != nullptr && echo[0] != '\0' && strcmp(echo, "0") != 0;
    libbpf_set_print(PrintTrampoline);
  });
}

int LibbpfLog::Print(int level, const char* fmt, va_list args) {
  if (g_echo) {
    va_list copy;
    va_copy(copy, args);
    vfprintf(stderr, fmt, copy);
    va_end(copy);
  }
  if (level != LIBBPF_WARN) return 0;

  // The verifier log arrives as one message of up to megabytes: format it whole, keep its tail.
  va_list copy;
  va_copy(copy, args);
  const int n = vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  if (n <= 0) return 0;
  std::string text(static_cast<size_t>(n) + 1, '\0');
  vsnprintf(text.data(), text.size(), fmt, args);
  text.resize(static_cast<size_t>(n));

  std::lock_guard<std::mutex> lock(g_mutex);
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) {
      g_lines.push_back(text.substr(start, std::min(end - start, kMaxLineLen)));
      g_seq++;
      if (g_lines.size() > kMaxLines) g_lines.pop_front();
    }
    start = end + 1;
  }
  return n;
}

uint64_t LibbpfLog::Mark() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_seq;
}

std::vector<std::string> LibbpfLog::Since(uint64_t mark, size_t max_lines) {
  std::lock_guard<std::mutex> lock(g_mutex);
  const uint64_t fresh = g_seq - mark;
  size_t take = static_cast<size_t>(std::min<uint64_t>(fresh, g_lines.size()));
  if (take > max_lines) take = max_lines;
  return std::vector<std::string>(g_lines.end() - static_cast<std::ptrdiff_t>(take), g_lines.end());
}

}  // namespace ctrace
