#include "exec_memory.h"

#include <utility>

namespace ctrace {

void ExecMemory::ExecSeen(uint32_t pid, uint64_t start_ns, const uint8_t* name, size_t n) {
  Filename* f = filenames_.Put({pid, start_ns, 0});
  f->has_name = true;
  f->from_exec = true;
  f->name.assign(reinterpret_cast<const char*>(name), n);
}

void ExecMemory::FilenameFound(uint32_t pid, uint64_t start_ns, bool known, std::string name) {
  Filename* f = filenames_.Put({pid, start_ns, 0});
  if (f->from_exec) return;
  f->has_name = known;
  f->name = known ? std::move(name) : std::string();
}

void ExecMemory::BinaryFound(uint32_t dev, uint64_t ino, uint64_t ctime_ns, Binary b) {
  *binaries_.Put({dev, ino, ctime_ns}) = std::move(b);
}

const ExecMemory::Filename* ExecMemory::FilenameOf(uint32_t pid, uint64_t start_ns) const {
  return filenames_.Find({pid, start_ns, 0});
}

const ExecMemory::Binary* ExecMemory::BinaryOf(uint32_t dev, uint64_t ino, uint64_t ctime_ns) const {
  return binaries_.Find({dev, ino, ctime_ns});
}

}  // namespace ctrace
