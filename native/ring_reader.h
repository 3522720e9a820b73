// The poll thread: drains the kernel ring buffer on a timer while records flow, sleeps until the
// kernel wakes it while none do, and hands JS one batch of raw records per poll cycle through a
// bounded, typed ThreadSafeFunction.
#ifndef CTRACE_NATIVE_RING_READER_H
#define CTRACE_NATIVE_RING_READER_H

#include <napi.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "json_lane.h"
#include "log_writer.h"
#include "out_queue.h"

namespace ctrace {

class RingReader {
 public:
  // What crosses from the poll thread to JS: concatenated raw records (or a lane batch), or a poll error.
  struct Batch {
    std::vector<uint8_t> bytes;
    int err = 0;  // positive errno when this is an error report
    const char* step = nullptr;
    bool end = false;  // the thread's last word: every batch before it has been delivered
    bool written = false;  // a lane batch whose lines the poll thread wrote to the lane's output
    // false for held lines handed over in front of another batch under the same credit: only
    // the last batch of a Take() returns it, or the poll thread could queue its next lines for
    // the output before JS has written the batch still in flight
    bool grants = true;
  };

  // A batch is flushed early once it holds this many bytes.
  static constexpr size_t kFlushBytes = 1 << 20;

  // Starts the thread; ring_bytes is the ring's size (it bounds the final drain). on_batch(err,
  // buffer) runs on the JS thread. With `lane`, batches are lane batches (json_lane.h) and
  // the PID verdicts the lane writes (json_lane.cc) go to verdict_map_fd. idle_flag is the
  // program's `reader_idle` global, which the thread sets while it sleeps (it must outlive
  // Stop()); null: never sleep. With `out` (ctrace run's stdout), lane batches of lines only go
  // to that queue from the poll thread, which never waits for stdout; with `log` (an audit log's
  // writer), to the log too, unless they must wait behind lines JS has not handled. Throws NativeError (step 'ringbuf') when the ring buffer
  // cannot be set up.
  RingReader(Napi::Env env, int ring_map_fd, uint32_t ring_bytes, Napi::Function on_batch, int poll_ms,
             std::shared_ptr<JsonLane> lane = nullptr, int verdict_map_fd = -1, uint32_t* idle_flag = nullptr,
             std::shared_ptr<OutQueue> out = nullptr, std::shared_ptr<LogWriter> log = nullptr);
  ~RingReader();
  RingReader(const RingReader&) = delete;
  RingReader& operator=(const RingReader&) = delete;

  // Idempotent; JS thread only. Wakes the thread, which drains what is left in the ring (call
  // it after detaching, so that is everything), joins it, frees the ring buffer and releases
  // the TSFN: batches already read are still delivered, on later event-loop turns.
  void Stop();
  // The reader's own counters, for Program.stats().
  struct Counts {
    uint64_t malformed = 0;       // records whose header contradicted their ring length (dropped)
    uint64_t verdict_errors = 0;  // lane PID-verdict writes that failed (batches of them)
    uint64_t wakeups = 0;         // times the poll thread woke up (an idle ring costs next to none)
    uint64_t asks = 0;            // times it waited for JS to answer for a record (a new cgroup's, mostly)
    Counts& operator+=(const Counts& o) {
      malformed += o.malformed;
      verdict_errors += o.verdict_errors;
      wakeups += o.wakeups;
      asks += o.asks;
      return *this;
    }
  };
  Counts counts() const;

 private:
  struct Shared;  // state shared with the TSFN finalizer, which may outlive this object
  std::shared_ptr<Shared> shared_;
};

}  // namespace ctrace

#endif  // CTRACE_NATIVE_RING_READER_H
