#include "ring_reader.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <cstring>
#include <thread>
#include <unordered_map>

#include "abi.h"
#include "errors.h"
#include "pid_verdicts.h"
#include "ring_fill.h"

namespace ctrace {

namespace {

constexpr size_t kReserveBytes = 64 * 1024;  // initial capacity of a fresh batch

// One batch in flight at a time, handed back only after the event loop has had a turn.
// Node's TSFN dispatch runs up to 1000 queued calls back to back while a producer keeps
// refilling the queue, starving timers and I/O (stdout, sinks) for seconds under load; with
// this credit the loop always gets a turn between two batches, and a consumer slower than the
// kernel leaves the excess in the kernel ring, where loss is counted.
class Credit {
 public:
  // Poll thread: false when stopping.
  bool Take() {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [this] { return available_ || stopped_; });
    if (stopped_) return false;
    available_ = false;
    return true;
  }
  // Poll thread: the credit if it is free now, without waiting.
  bool TryTake() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!available_ || stopped_) return false;
    available_ = false;
    return true;
  }
  // Poll thread: waits up to `ms` for the credit to be free (JS done with the batch in
  // flight, and a loop turn after it) without taking it. False on timeout or when stopping.
  bool WaitFree(int ms) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return available_ || stopped_; }) && !stopped_;
  }
  void Grant() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      available_ = true;
    }
    cv_.notify_all();
  }
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopped_ = true;
    }
    cv_.notify_all();
  }

  // JS thread: Grant() from a setImmediate callback, i.e. after the loop's I/O phase.
  static void GrantAfterLoopTurn(Napi::Env env, const std::shared_ptr<Credit>& credit) {
    Napi::Value set_immediate = env.Global().Get("setImmediate");
    if (!set_immediate.IsFunction()) {
      credit->Grant();
      return;
    }
    auto* holder = new std::shared_ptr<Credit>(credit);
    Napi::Function grant;
    try {
      grant = Napi::Function::New(
          env, [](const Napi::CallbackInfo& info) { (*static_cast<std::shared_ptr<Credit>*>(info.Data()))->Grant(); },
          "ctraceRingCredit", holder);
      grant.AddFinalizer([](Napi::Env /*env*/, std::shared_ptr<Credit>* h) { delete h; }, holder);
    } catch (...) {
      delete holder;
      credit->Grant();
      throw;
    }
    set_immediate.As<Napi::Function>().Call({grant});
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool available_ = true;
  bool stopped_ = false;
};

}  // namespace

struct RingReader::Shared {
  // JS thread. env is null when the TSFN is torn down with batches still queued: free them only.
  static void CallJs(Napi::Env env, Napi::Function on_batch, Shared* self, Batch* raw) {
    std::unique_ptr<Batch> batch(raw);
    if (static_cast<napi_env>(env) == nullptr || on_batch.IsEmpty() || batch == nullptr) return;
    try {
      if (batch->err != 0) {
        on_batch.Call({NativeError::Make(env, batch->step, batch->err).Value(), env.Null()});
        return;
      }
      if (batch->end) {
        on_batch.Call({env.Null(), env.Null()});
        return;
      }
      // Before the callback, so a throwing onBatch still returns the credit.
      if (batch->grants) Credit::GrantAfterLoopTurn(env, self->credit);
      const bool written = batch->written;
      if (self->lane && batch->bytes.size() <= kViewBytes) {
        // Lane batches: copied into one reused block and freed now. Their consumers (the tracer's
        // chunk walk, the log's chain) are done with them when the callback returns; a fresh
        // Buffer per batch would leave its memory to the GC, which JavaScript, allocating
        // little in this mode, runs too seldom (tens of MB of dead batches in a storm).
        if (!self->view) self->view = std::shared_ptr<uint8_t[]>(new uint8_t[kViewBytes]);
        const size_t n = batch->bytes.size();
        memcpy(self->view.get(), batch->bytes.data(), n);
        batch.reset();
        auto* keep = new std::shared_ptr<uint8_t[]>(self->view);  // outlives the reader if a view does
        Napi::Buffer<uint8_t> view = Napi::Buffer<uint8_t>::NewOrCopy(
            env, self->view.get(), n,
            [](Napi::Env /*env*/, uint8_t* /*data*/, std::shared_ptr<uint8_t[]>* k) { delete k; }, keep);
        on_batch.Call({env.Null(), view, Napi::Boolean::New(env, written)});
        return;
      }
      // Zero-copy when the runtime allows external buffers; the finalizer frees the bytes.
      // V8 is told their size: with JavaScript allocating little per batch (the lane), it would
      // otherwise not collect the Buffers that hold them for a long time, and RSS would grow.
      auto bytes = std::make_unique<std::vector<uint8_t>>(std::move(batch->bytes));
      batch.reset();
      std::vector<uint8_t>* owned = bytes.get();
      Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(owned->capacity()));
      Napi::Buffer<uint8_t> buffer = Napi::Buffer<uint8_t>::NewOrCopy(
          env, owned->data(), owned->size(),
          [](Napi::Env fenv, uint8_t* /*data*/, std::vector<uint8_t>* v) {
            Napi::MemoryManagement::AdjustExternalMemory(fenv, -static_cast<int64_t>(v->capacity()));
            delete v;
          },
          owned);
      bytes.release();
      on_batch.Call({env.Null(), buffer, Napi::Boolean::New(env, written)});
    } catch (const Napi::Error& e) {
      // What onBatch threw belongs to the application: make it an 'uncaughtException' (for a
      // Node-API 8 module Node would only print DEP0168 and drop it). When the environment is
      // shutting down (a terminating worker) no JS can run and this is a no-op.
      Napi::Value error = e.Value();
      if (!error.IsEmpty()) napi_fatal_exception(env, error);
    }
  }

  using Tsfn = Napi::TypedThreadSafeFunction<Shared, Batch, &Shared::CallJs>;

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> malformed{0};
  int poll_ms = 5;
  // Idle after this many drains in a row found nothing; then look every kIdleMs at most (insurance:
  // it is the kernel's wakeup that ends the sleep).
  static constexpr int kEmptyDrainsBeforeIdle = 4;
  static constexpr int kIdleMs = 1000;
  uint32_t* idle_flag = nullptr;  // the hooks' `reader_idle` (mmapped .bss), or null: never idle
  size_t max_final_batches = 0;  // the final drain never needs more than the ring holds
  int wake_fd = -1;
  int epoll_fd = -1;
  std::atomic<uint64_t> wakeups{0};  // times the thread woke up, for any reason but stopping
  struct ring_buffer* rb = nullptr;
  // The JSON lane, when JS asked for it: records of registered cgroups become lines here.
  std::shared_ptr<JsonLane> lane;
  std::shared_ptr<OutQueue> out;  // stdout's bounded queue: pushing never waits for the reader
  // The audit log's writer (log_writer.h): lines-only batches are sealed and queued for it here,
  // when the lines before them are (no held lines, JavaScript has handled every batch before).
  std::shared_ptr<LogWriter> log;
  int verdict_fd = -1;
  std::atomic<uint64_t> verdict_errors{0};

  // Poll thread only.
  std::vector<uint8_t> batch;
  JsonLane::Writer writer{&batch};  // the lane's chunks in `batch` (swapped out, never moved)
  bool cut = false;    // OnSample ended the drain early
  bool out_failed = false;  // the lane's output failed: JS gets every batch from then on
  bool final = false;  // draining what is left after stop: no deadline, no credit
  // Lines for a consumer that is not live (the audit log), held and handed over together: a
  // JavaScript wakeup per poll cycle cost far more than the lines themselves, and each batch
  // costs JavaScript a seal, a write through the thread pool and garbage. kHoldMs is well
  // inside the log's default fsync interval (1 s), before which a line is not durable anyway.
  // Either lines the poll thread already wrote to stdout (held_written), or, with no stdout,
  // lines JavaScript asked to be held (JsonLane::HoldLines). Handed over when they reach kFlushBytes, are
  // kHoldMs old, a batch JS must see comes (they go first: ring order), the reader goes idle, or
  // it stops.
  std::vector<uint8_t> held;
  bool held_written = false;
  uint64_t held_since_ns = 0;
  static constexpr uint64_t kHoldMs = 250;
  uint64_t records = 0;  // records consumed so far
  uint64_t record_bytes = 0;  // their bytes
  // While JavaScript is busy (a new container's first records take it a while), the thread keeps
  // reading the ring into its batch, up to four times the ring (the size the user chose for
  // bursts), rather than leave the records to fill the kernel's ring; the cycle is then cut
  // kFlushBytes further on. Past that, the kernel's ring takes the back-pressure and counts loss.
  size_t stall_bytes = 0;
  size_t cut_bytes = kFlushBytes;
  uint64_t cycle_deadline_ns = 0;
  // Asking JavaScript. A record the lane sent raw because only JavaScript can answer for it (a
  // new cgroup to classify, an ancestor's binary or an exec's hash to find) ends the cycle, and
  // the thread waits (up to kAskMs) for JavaScript to have handled it before it reads on: the
  // records behind it, a new container's first burst, then take the lane instead of following
  // raw into JavaScript, where each costs many times what it costs here. At most kAsksPerCgroup
  // times per cgroup (a cgroup JavaScript never registers, an exec whose binary cannot be
  // hashed, cost no more than that), and never in the final drain.
  static constexpr int kAskMs = 25;
  static constexpr uint8_t kAsksPerCgroup = 6;
  static constexpr size_t kMaxAsked = 8192;  // cgroups remembered; forgotten all at once past it
  std::unordered_map<uint64_t, uint8_t> asked;
  bool asking = false;  // OnSample ended the cycle to ask
  // The wait ends early once the kernel's ring is a quarter full: a burst (a mount storm in the
  // new container) must not fill the ring and be lost while the thread waits.
  RingFill fill;
  bool fill_ok = false;  // the ring's positions are mapped (else asks never wait)
  uint64_t ask_room = 0;
  static constexpr int kAskSliceMs = 1;
  std::atomic<uint64_t> asks{0};  // times the thread waited for JavaScript's answer

  // JS thread only: the block lane batches are handed over in (valid during the callback).
  static constexpr size_t kViewBytes = kFlushBytes + (256 << 10);
  std::shared_ptr<uint8_t[]> view;

  // Set once before the thread starts; the handle is used from both threads (napi is thread-safe).
  Tsfn tsfn;
  std::shared_ptr<Credit> credit = std::make_shared<Credit>();
  // JS thread only.
  bool tsfn_live = false;      // the TSFN exists (its finalizer has not run)
  bool tsfn_released = false;  // our one reference was given back
  std::thread thread;

  ~Shared() {
    // Shutdown() has run by now (Stop() or the TSFN finalizer); this only guards misuse.
    StopAndJoin();
    Free();
  }

  // The TSFN queue bound: one data batch in flight (the credit), the final drain (at most the
  // ring's size in kFlushBytes batches), an error report. BlockingCall therefore never waits,
  // which is what makes joining the thread before releasing the TSFN safe.
  static size_t QueueBound(uint32_t ring_bytes) { return ring_bytes / kFlushBytes + 4; }

  // The ring buffer's sample callback: append the record as-is (hdr.size bytes). Ends the
  // cycle early (the sample itself is already consumed; a negative return only stops this
  // drain) once the batch reaches kFlushBytes, the cycle has run for poll_ms, or we are
  // stopping: under a steady stream ring_buffer__consume would otherwise never return.
  static int OnSample(void* ctx, void* data, size_t len) {
    auto* self = static_cast<Shared*>(ctx);
    struct ctrace_hdr hdr;
    if (len < sizeof(hdr)) {
      self->malformed++;
      return 0;
    }
    memcpy(&hdr, data, sizeof(hdr));
    if (hdr.size < sizeof(hdr) || hdr.size > len) {
      self->malformed++;
      return 0;
    }
    const auto* p = static_cast<const uint8_t*>(data);
    self->records++;
    self->record_bytes += hdr.size;
    if (self->lane) {
      if (self->lane->Append(p, hdr.size, &self->writer) && !self->final && self->Ask(p, hdr.size)) {
        self->asking = true;
        self->cut = true;
        return -ECANCELED;
      }
    } else {
      self->batch.insert(self->batch.end(), p, p + hdr.size);
    }
    if (self->batch.size() >= self->cut_bytes ||
        (!self->final && (MonotonicNs() >= self->cycle_deadline_ns || self->stop.load(std::memory_order_relaxed)))) {
      self->cut = true;
      return -ECANCELED;
    }
    return 0;
  }

  // Whether to stop and ask JavaScript about this raw record (see `asked`).
  bool Ask(const uint8_t* rec, size_t len) {
    struct ctrace_hdr hdr;
    memcpy(&hdr, rec, sizeof(hdr));
    const auto type = hdr.type;
    if (type != CTRACE_EV_EXEC && type != CTRACE_EV_EXIT && type != CTRACE_EV_MOUNT) return false;
    const size_t at = offsetof(struct ctrace_exec, task) + offsetof(struct ctrace_task, cgroup_key);
    if (len < at + sizeof(uint64_t)) return false;
    uint64_t key;
    memcpy(&key, rec + at, sizeof(key));
    if (asked.size() >= kMaxAsked) asked.clear();
    uint8_t& n = asked[key];
    if (n >= kAsksPerCgroup) return false;
    n++;
    return true;
  }

  // After a cycle cut to ask: the batch goes to JavaScript now (waiting for the one before it
  // if need be), then the thread waits for JavaScript to have handled it. Bounded: a slow
  // JavaScript costs kAskMs per ask, and only while the ring has room for what comes meanwhile.
  bool AwaitAnswer() {
    asking = false;
    if (!fill_ok) return true;
    if (!batch.empty()) {  // JS was busy and Flush kept reading ahead: deliver it now
      if (!WaitWhileRoom()) return true;
      if (!Flush()) return false;
    }
    asks++;
    WaitWhileRoom();
    return true;
  }

  // Waits for JavaScript to free the credit, up to kAskMs and while the ring has room.
  bool WaitWhileRoom() {
    for (int waited = 0; waited < kAskMs; waited += kAskSliceMs) {
      if (fill.Used() >= ask_room) return false;
      if (credit->WaitFree(kAskSliceMs)) return true;
    }
    return false;
  }

  static uint64_t MonotonicNs() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
  }

  // The thread body: read until stopped or failed, then say so with an end marker, which JS
  // receives after every batch before it (the TSFN is FIFO), so close() can wait for it.
  void Run() {
    RunLoop();
    auto* end = new Batch();
    end->end = true;
    Deliver(end);
  }

  // Two modes. While records flow the thread drains the ring every poll_ms on its timer, and
  // the hooks submit without waking anyone (a wakeup is an irq_work in the traced task: a
  // self-IPI and a cross-CPU wakeup, 10-20 us on this VM): one wakeup per cycle, the timer's.
  // After kEmptyDrainsBeforeIdle empty drains it goes idle: it tells the hooks (the `reader_idle`
  // global), which then leave the wakeup to the kernel's adaptive rule (the first record that
  // finds the reader caught up wakes it), and sleeps until woken, or kIdleMs as insurance. An idle
  // host so costs one wakeup a second instead of 1000 / poll_ms. A record that crosses
  // wakeup_bytes wakes the thread in either mode (the ring fd is edge-triggered: kernel wakeups only).
  void RunLoop() {
    batch.reserve(kReserveBytes);
    struct epoll_event events[2];
    int empty_drains = 0;
    bool idle = false;
    uint64_t drained_bytes = 0;  // by the last wakeup
    while (!stop.load(std::memory_order_acquire)) {
      const int n = epoll_wait(epoll_fd, events, 2, idle ? kIdleMs : CyclePollMs(drained_bytes));
      if (n < 0) {
        if (errno == EINTR) continue;
        Fail("poll", errno);
        return;
      }
      if (stop.load(std::memory_order_acquire)) break;
      wakeups.fetch_add(1, std::memory_order_relaxed);
      if (idle) {
        SetIdle(false);  // from here on the timer drains; records wake no one
        idle = false;
      }
      uint64_t before = records;
      const uint64_t bytes_before = record_bytes;
      if (!Drain()) return;
      drained_bytes = record_bytes - bytes_before;
      // records came, or a batch waits for JavaScript: not idle (the next look hands it over)
      if (records != before || !batch.empty()) {
        empty_drains = 0;
        continue;
      }
      // (held lines wait out a lull of a few cycles: a trickle of records would otherwise hand
      // them over at every gap between two, a batch per record; Flush hands them over at kHoldMs)
      if (++empty_drains < kEmptyDrainsBeforeIdle) continue;
      if (!held.empty() && !DeliverHeld()) return;
      // Quiet. Say so, then look once more: a hook that read the flag before it changed
      // submitted without a wakeup. (One that read it and commits only after this look is left
      // to kIdleMs; it would have to run across the very moment the ring went idle.)
      empty_drains = 0;
      SetIdle(true);
      before = records;
      if (!Drain()) return;
      if (records != before) {
        SetIdle(false);
        continue;
      }
      idle = true;
    }
    // Stopping: hand over what the ring still holds (the hooks are detached by now).
    final = true;
    if (!held.empty() && !DeliverHeld()) return;
    Drain();
  }

  // While the lines' only consumer is one that holds them (no stdout: the audit log alone), no
  // one waits for a record within poll_ms: the timer drains every kHeldPollMs instead, well inside
  // kHoldMs. In an exec storm a wakeup of this thread cost more than the records of a cycle
  // (bench/README.md). Not while records pour in (kHeldBusyBytes in the last drain, a mount
  // storm): a cycle then has plenty to do anyway, and what waits longer in the ring is read back
  // from memory no cache holds any more. A burst still wakes it at wakeup_bytes.
  static constexpr int kHeldPollMs = 50;
  static constexpr uint64_t kHeldBusyBytes = 64u << 10;
  int CyclePollMs(uint64_t drained_bytes) const {
    if (drained_bytes < kHeldBusyBytes && lane && lane->HoldLines() && !(out && out->HasOutput()))
      return std::max(poll_ms, kHeldPollMs);
    return poll_ms;
  }

  void SetIdle(bool on) {
    // seq_cst: the store is visible to the hooks before the ring is read again
    if (idle_flag != nullptr) __atomic_store_n(idle_flag, on ? 1u : 0u, __ATOMIC_SEQ_CST);
  }

  // Consume everything queued, one batch per cycle of at most poll_ms or kFlushBytes.
  // False when the thread must end.
  bool Drain() {
    size_t batches = 0;
    bool fenced = false;
    for (;;) {
      cut = false;
      const uint64_t before = records;
      cycle_deadline_ns = MonotonicNs() + static_cast<uint64_t>(poll_ms) * 1000000u;
      const int r = ring_buffer__consume(rb);
      const bool was_cut = cut;
      if (r < 0 && !was_cut) {
        if (!Flush()) return false;
        Fail("consume", -r);
        return false;
      }
      if (!Flush()) return false;
      if (asking && !AwaitAnswer()) return false;
      if (was_cut) {
        fenced = false;
        if (final ? ++batches >= max_final_batches : stop.load(std::memory_order_acquire)) return true;
        continue;
      }
      // Empty. libbpf stores its consumer position and then loads the next record's header, and
      // x86 may let the load pass the store: a hook committing in between (adaptive wakeup, the
      // idle mode) sees the reader behind, skips the wakeup, and its record would wait for
      // kIdleMs. After a full fence one more look settles it; it is over once a look finds
      // nothing (it stored nothing).
      if (fenced && records == before) return true;
      std::atomic_thread_fence(std::memory_order_seq_cst);
      fenced = true;
    }
  }

  bool Flush() {
    bool raw = false;
    if (lane) {
      writer.Close();
      WriteVerdicts();
      raw = writer.has_raw();
    }
    if (batch.empty()) {
      if (lane) writer.Reset();
      if (!held.empty() && MonotonicNs() - held_since_ns >= kHoldMs * 1000000u) return DeliverHeld();
      return true;
    }
    // Wait for JS to take the previous batch and have a loop turn; when stopping, go ahead.
    // While JS is still busy, keep reading into this batch (up to stall_bytes) instead.
    if (!final && !credit->TryTake()) {
      if (batch.size() + kFlushBytes <= stall_bytes && !stop.load(std::memory_order_acquire)) {
        cut_bytes = batch.size() + kFlushBytes;
        return true;
      }
      credit->Take();
    }
    cut_bytes = kFlushBytes;
    if (lane) writer.Reset();
    // Lines only, and JS has queued everything before (it held the credit): queue them here.
    // Not in the final drain, where batches before this one may still be queued for JS.
    bool written = false;
    if (lane && !raw && !final) {
      const bool fd = out && out->HasOutput();
      if (fd && !out_failed) {
        if (const int err = out->PushLines(batch); err != 0) {
          out_failed = true;  // JS writes (and fails) from now on; say why once
          auto* e = new Batch();
          e->err = err;
          e->step = "stdout";
          if (!Deliver(e)) return false;
        } else {
          written = true;
        }
      }
      // nothing for JS (the log has them, or nobody else wants them): the credit stays ours
      if ((log && held.empty() && log->TakeLines(batch)) || (written && !lane->DeliverWritten())) {
        batch.clear();
        credit->Grant();
        return true;
      }
      if (written || (!fd && lane->HoldLines())) return Hold(written);
    }
    // a batch for JS: the lines held before it go first, under the same credit (two batches
    // in flight at most: the TSFN queue has room, and waiting for JS twice would halve the
    // reader's pace exactly when JS is its bottleneck)
    if (!held.empty() && !Deliver(TakeHeld(false))) return false;  // the batch after it returns the credit
    auto* out = new Batch();
    out->written = written;
    out->bytes.swap(batch);
    if (!final) batch.reserve(kReserveBytes);
    return Deliver(out);
  }

  // Holds the batch's lines for JS, which has nothing else to do with them soon. They are
  // appended to one lines chunk: JavaScript seals and writes a chunk at a time, and a chunk per
  // poll cycle held cost it a seal call, a write and their garbage per cycle, not per handover.
  bool Hold(bool written) {
    if (held.empty()) {
      held_since_ns = MonotonicNs();
      held_written = written;
      held.reserve(kFlushBytes + kFlushBytes / 4);  // appends without regrowing (each a copy)
      JsonLane::BeginChunk(&held, JsonLane::kChunkLines);
    }
    // (a batch with raw records is never held: its chunks are all lines)
    JsonLane::ForEachLines(batch, [this](const uint8_t* p, size_t n) {
      held.insert(held.end(), p, p + n);
      return 0;
    });
    JsonLane::EndChunk(&held, 0);
    batch.clear();
    credit->Grant();
    if (held.size() < kFlushBytes && MonotonicNs() - held_since_ns < kHoldMs * 1000000u) return true;
    return DeliverHeld();
  }

  // Hands the held lines to JS as one batch (it waits for the credit like any batch).
  bool DeliverHeld() {
    if (!final && !credit->Take()) return true;
    return Deliver(TakeHeld(true));
  }

  // The held lines as one batch; `grants`: JS returns the credit when it has taken it.
  Batch* TakeHeld(bool grants) {
    auto* b = new Batch();
    b->written = held_written;
    b->grants = grants;
    b->bytes.swap(held);
    return b;
  }

  // PID verdicts of the execs the lane formatted that the kernel had not decided by their cgroup.
  void WriteVerdicts() {
    if (writer.verdict_pids.empty()) return;
    if (!final && verdict_fd >= 0 && UpdatePidVerdicts(verdict_fd, &writer.verdict_pids, &writer.verdict_values) != 0)
      verdict_errors++;
    writer.verdict_pids.clear();
    writer.verdict_values.clear();
  }

  void Fail(const char* step, int err) {
    auto* out = new Batch();
    out->err = err;
    out->step = step;
    Deliver(out);
  }

  // Fails once the TSFN is closing (environment teardown).
  bool Deliver(Batch* out) {
    const napi_status status = tsfn.BlockingCall(out);
    if (status != napi_ok) {
      delete out;
      return false;
    }
    return true;
  }

  void Wake() {
    if (wake_fd >= 0) {
      const uint64_t one = 1;
      ssize_t ignored = write(wake_fd, &one, sizeof(one));
      (void)ignored;
    }
  }

  void StopAndJoin() {
    stop.store(true, std::memory_order_release);
    Wake();
    credit->Stop();
    if (thread.joinable()) thread.join();
  }

  void Free() {
    if (rb != nullptr) ring_buffer__free(rb);
    rb = nullptr;
    if (epoll_fd >= 0) close(epoll_fd);
    epoll_fd = -1;
    if (wake_fd >= 0) close(wake_fd);
    wake_fd = -1;
  }

  // JS thread; idempotent. Stop flag, wake, join, free; the TSFN is released last, so what
  // the thread queued is still delivered. (The thread cannot be parked in BlockingCall:
  // QueueBound() leaves room for everything it can send.)
  void Shutdown() {
    StopAndJoin();
    Free();
    if (tsfn_live && !tsfn_released) {
      tsfn_released = true;
      tsfn.Release();
    }
  }

  // The TSFN finalizer: runs on the JS thread after our Release() once the queue is empty, or
  // at environment teardown when the tracer was never closed (the thread may still be running
  // then). Either way the thread must be gone before the TSFN is.
  static void OnTsfnFinalize(Napi::Env /*env*/, std::shared_ptr<Shared>* holder, Shared* /*ctx*/) {
    std::shared_ptr<Shared> self = std::move(*holder);
    delete holder;
    self->tsfn_live = false;
    self->Shutdown();
  }
};

RingReader::RingReader(Napi::Env env, int ring_map_fd, uint32_t ring_bytes, Napi::Function on_batch, int poll_ms,
                       std::shared_ptr<JsonLane> lane, int verdict_map_fd, uint32_t* idle_flag,
                       std::shared_ptr<OutQueue> out, std::shared_ptr<LogWriter> log)
    : shared_(std::make_shared<Shared>()) {
  Shared& s = *shared_;
  s.out = std::move(out);
  s.log = std::move(log);
  s.poll_ms = poll_ms;
  s.idle_flag = idle_flag;
  s.lane = std::move(lane);
  s.verdict_fd = verdict_map_fd;
  s.max_final_batches = ring_bytes / kFlushBytes + 1;
  s.stall_bytes = 4 * static_cast<size_t>(ring_bytes);
  s.fill_ok = s.fill.Open(ring_map_fd) == 0;
  s.ask_room = ring_bytes / 4;

  s.rb = ring_buffer__new(ring_map_fd, Shared::OnSample, &s, nullptr);
  if (s.rb == nullptr) NativeError::Throw(env, "ringbuf", errno);

  s.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s.wake_fd < 0) NativeError::Throw(env, "ringbuf", errno, "eventfd");
  s.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (s.epoll_fd < 0) NativeError::Throw(env, "ringbuf", errno, "epoll_create1");
  struct epoll_event ev = {};
  ev.events = EPOLLIN | EPOLLET;  // kernel wakeups, not "data is queued": see RunLoop()
  ev.data.fd = ring_map_fd;
  if (epoll_ctl(s.epoll_fd, EPOLL_CTL_ADD, ring_map_fd, &ev) != 0)
    NativeError::Throw(env, "ringbuf", errno, "epoll_ctl on the ring buffer map");
  ev.events = EPOLLIN;
  ev.data.fd = s.wake_fd;
  if (epoll_ctl(s.epoll_fd, EPOLL_CTL_ADD, s.wake_fd, &ev) != 0)
    NativeError::Throw(env, "ringbuf", errno, "epoll_ctl on the wake eventfd");

  auto* holder = new std::shared_ptr<Shared>(shared_);
  try {
    s.tsfn = Shared::Tsfn::New(env, on_batch, "ctrace.ring", Shared::QueueBound(ring_bytes), 1, &s,
                               Shared::OnTsfnFinalize, holder);
  } catch (...) {
    delete holder;
    throw;
  }
  s.tsfn_live = true;
  try {
    s.thread = std::thread([&s] {
      pthread_setname_np(pthread_self(), "ctrace-ring");  // what top -H and perf show
      s.Run();
    });
  } catch (const std::system_error& e) {
    s.Shutdown();
    NativeError::Throw(env, "ringbuf", e.code().value(), "could not start the poll thread");
  }
}

RingReader::~RingReader() { Stop(); }

void RingReader::Stop() {
  if (shared_ != nullptr) shared_->Shutdown();
}

RingReader::Counts RingReader::counts() const {
  Counts c;
  c.malformed = shared_->malformed.load();
  c.verdict_errors = shared_->verdict_errors.load();
  c.wakeups = shared_->wakeups.load();
  c.asks = shared_->asks.load();
  return c;
}

}  // namespace ctrace
