#include "ring_fill.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

namespace ctrace {

int RingFill::Open(int map_fd) {
  page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  // BPF_MAP_TYPE_RINGBUF layout: the consumer position on page 0, the producer position on page 1
  void* cons = mmap(nullptr, page_, PROT_READ, MAP_SHARED, map_fd, 0);
  if (cons == MAP_FAILED) return errno;
  void* prod = mmap(nullptr, page_, PROT_READ, MAP_SHARED, map_fd, static_cast<off_t>(page_));
  if (prod == MAP_FAILED) {
    const int err = errno;
    munmap(cons, page_);
    return err;
  }
  consumer_ = static_cast<const volatile uint64_t*>(cons);
  producer_ = static_cast<const volatile uint64_t*>(prod);
  return 0;
}

RingFill::~RingFill() {
  if (consumer_ != nullptr) munmap(const_cast<uint64_t*>(consumer_), page_);
  if (producer_ != nullptr) munmap(const_cast<uint64_t*>(producer_), page_);
}

uint64_t RingFill::Used() const {
  if (consumer_ == nullptr) return 0;
  // the consumer first: read the other way round, a drain between the two reads could make it pass the producer
  const uint64_t cons = __atomic_load_n(consumer_, __ATOMIC_ACQUIRE);
  const uint64_t prod = __atomic_load_n(producer_, __ATOMIC_ACQUIRE);
  return prod > cons ? prod - cons : 0;
}

}  // namespace ctrace
