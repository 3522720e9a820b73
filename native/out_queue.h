// class OutQueue: ctrace run's stdout as a bounded queue with its own writer thread. The poll
// thread and JavaScript push JSON lines and never wait for the reader of stdout: a slow or
// stopped reader fills the queue, and what does not fit is dropped and counted (in lines),
// while the ring, the audit log and the socket keep every event. Memory stays bounded by
// max_bytes whatever stdout does.
//
// The writer never blocks for good either: a pipe, FIFO or terminal is written through a
// non-blocking file description of its own (reopened through /proc/self/fd), a socket with
// MSG_DONTWAIT, so Close() always returns within a poll interval. Such an output is also
// written by Push() itself while nothing is queued, as far as it takes the bytes at once: the
// writer thread is woken only for what is left, not once per push (a wakeup costs more than
// the write). A regular file, whose writes may wait for the disk, is always the writer's, and
// it collects what comes for up to kFileHold (or kCoalesceBytes) before it writes: woken for
// every push, it spent more on the wakeups than on the writes. The lines reach the file at
// most that much later.
#ifndef CTRACE_NATIVE_OUT_QUEUE_H
#define CTRACE_NATIVE_OUT_QUEUE_H

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace ctrace {

class OutQueue {
 public:
  static constexpr size_t kDefaultMaxBytes = 4u << 20;  // src/sinks/tick-writer.ts: STDOUT_MAX_BYTES

  OutQueue() = default;
  ~OutQueue();
  OutQueue(const OutQueue&) = delete;
  OutQueue& operator=(const OutQueue&) = delete;

  // Starts writing to fd (the caller keeps it open) with at most max_bytes queued; once only.
  // 0 or a positive errno (the writer thread could not start).
  int Open(int fd, size_t max_bytes);
  bool HasOutput() const;

  // Any thread; never blocks. Queues n bytes of whole lines, or drops them all (counted) when
  // they do not fit. 0, or the errno of the failed output (sticky: the reader went away).
  int Push(const void* p, size_t n);
  // The line chunks of a lane batch (json_lane.h), in order.
  int PushLines(const std::vector<uint8_t>& lane_batch);

  // Stops the writer; what is still queued is counted as undelivered. Idempotent.
  void Close();

  struct Counts {
    uint64_t written_bytes = 0;
    uint64_t writes = 0;           // write() calls that wrote something
    uint64_t dropped_lines = 0;    // did not fit in the queue
    uint64_t dropped_bytes = 0;
    uint64_t queued_bytes = 0;     // now
    uint64_t undelivered_lines = 0;  // still queued at Close()
    int err = 0;                   // the output failed with this errno
  };
  Counts counts() const;

 private:
  void Run();
  // Writes all of buf, counting the write() calls in *writes; false when stopping or failed (err_ set).
  bool WriteAll(const std::vector<uint8_t>& buf, uint64_t* writes);
  // One write that does not wait; the bytes written, or -1 with errno.
  ssize_t WriteNow(const uint8_t* b, size_t n) const;
  static uint64_t Lines(const void* p, size_t n);

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::vector<uint8_t>> queue_;
  size_t max_bytes_ = kDefaultMaxBytes;
  size_t queued_ = 0;
  bool open_ = false;
  bool stop_ = false;
  Counts counts_;
  int fd_ = -1;        // what the writer writes to
  int own_fd_ = -1;    // fd_ when it is our own non-blocking reopen
  bool socket_ = false;
  bool nonblocking_ = false;  // writes to fd_ never wait: Push may write while the queue is empty
  bool hold_ = false;         // a regular file: the writer collects kFileHold before writing
  bool writing_ = false;      // the writer is writing the front buffer (without the lock)
  std::thread thread_;
};

}  // namespace ctrace

#endif  // CTRACE_NATIVE_OUT_QUEUE_H
