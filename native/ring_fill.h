// How full the kernel ring buffer is, read from the ring's own producer and consumer positions
// (the two pages the kernel maps for every BPF ring buffer). libbpf 1.3 has
// ring__avail_data_size() for this; the libbpf we build against is older, and reading the two
// positions from a separate read-only mapping leaves the poll thread's ring_buffer untouched.
#ifndef CTRACE_NATIVE_RING_FILL_H
#define CTRACE_NATIVE_RING_FILL_H

#include <cstddef>
#include <cstdint>

namespace ctrace {

class RingFill {
 public:
  // Maps the consumer and producer pages of ring map `map_fd` read-only; returns 0 or a positive errno.
  int Open(int map_fd);
  ~RingFill();
  // Bytes written by the kernel and not yet consumed by the reader (records and their headers).
  uint64_t Used() const;

 private:
  const volatile uint64_t* consumer_ = nullptr;
  const volatile uint64_t* producer_ = nullptr;
  size_t page_ = 0;
};

}  // namespace ctrace

#endif  // CTRACE_NATIVE_RING_FILL_H
