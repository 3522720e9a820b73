// The JSON lane. Once userland has classified a cgroup it registers, per cgroup key, the
// part of the JSON line that depends only on the cgroup (container, scope, cgroupPath,
// cgroupV1) and whether its events pass the filters. From then on the poll thread writes the
// JSON line of every record of that cgroup itself, with the field writers generated from
// proto/ctrace.proto (json_records.h), byte for byte what src/format/json.ts writes
// (test/json-lane.test.ts holds the two to that), and JavaScript only forwards bytes.
// A record of any other cgroup, or one whose numbers JavaScript would print differently
// (beyond 2^53), goes to JavaScript raw, in order. An exec takes the lane only when every
// ancestor's binary and its own binary's hash are known (exec_memory.h: JavaScript tells what it
// resolved for the execs it got raw); the execs and exits the lane takes are kept, bounded, for
// JavaScript's process table (TakeNoted), which it reads when it is woken anyway.
//
// A lane batch is a sequence of chunks, each [u32 kind][u32 length][payload]: kind 1 raw
// records as the ring holds them, kind 2 JSON lines, each ended by '\n'.
//
// With an output (ctrace run's stdout), a batch of lines only is queued for it by the poll
// thread itself (OutQueue, out_queue.h), while it holds the reader's credit (so after
// everything JS was handed before); a batch with raw records goes to JS, which queues it all,
// in order, through the same queue. JS is then not woken at all for a known container's events.
#ifndef CTRACE_NATIVE_JSON_LANE_H
#define CTRACE_NATIVE_JSON_LANE_H

#include <algorithm>
#include <atomic>
#include <deque>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "ctrace.h"
#include "exec_memory.h"
#include "json_records.h"

namespace ctrace {

class JsonLane {
 public:
  static constexpr uint32_t kChunkRaw = 1;
  static constexpr uint32_t kChunkLines = 2;
  static constexpr size_t kChunkHeader = 8;

  // Opens a chunk of `kind` at the end of `out`, its length 0 until EndChunk; returns where its
  // header is.
  static size_t BeginChunk(std::vector<uint8_t>* out, uint32_t kind) {
    const size_t at = out->size();
    const uint32_t header[2] = {kind, 0};
    const auto* h = reinterpret_cast<const uint8_t*>(header);
    out->insert(out->end(), h, h + sizeof(header));
    return at;
  }
  // Ends the chunk whose header is at `at`: its length is everything after the header.
  static void EndChunk(std::vector<uint8_t>* out, size_t at) {
    const auto len = static_cast<uint32_t>(out->size() - at - kChunkHeader);
    memcpy(out->data() + at + 4, &len, sizeof(len));
  }

  // Calls fn(data, size) for each lines chunk of a lane batch, in order, until fn returns
  // non-zero (returned). A chunk that claims more than the batch holds ends at the batch's end.
  template <typename Fn>
  static int ForEachLines(const std::vector<uint8_t>& batch, Fn&& fn) {
    for (size_t o = 0; o + kChunkHeader <= batch.size();) {
      uint32_t header[2];
      memcpy(header, batch.data() + o, sizeof(header));
      const size_t start = o + kChunkHeader;
      const size_t end = start + std::min<size_t>(header[1], batch.size() - start);
      if (header[0] == kChunkLines)
        if (const int r = fn(batch.data() + start, end - start); r != 0) return r;
      o = end;
    }
    return 0;
  }

  // What to do with a cgroup's records.
  struct Cgroup {
    // `,"container":…,"scope":…,"cgroupPath":…,"cgroupV1":…` (JSON, starts with a comma)
    std::string fragment;
    bool emit = true;     // false: the filters drop this cgroup's events (counted)
    bool v1 = false;      // the cgroupV1 the fragment says; a record that disagrees goes raw
    uint8_t verdict = 0;  // PID verdict written for its execs
    // JavaScript took the cgroup from a record of the host's PID namespace (the runtime's init,
    // moved in before it made the container's namespaces): the first record from another PID
    // namespace goes raw, for JavaScript to learn which container that namespace is
    // (src/classify/isolation.ts). Cleared by that record; a re-Set does not arm it again.
    bool pidns_pending = false;
  };

  struct Counts {
    uint64_t exec = 0;
    uint64_t exit = 0;
    uint64_t mount = 0;
    uint64_t filtered = 0;
    uint64_t raw = 0;
  };

  // One consumer's state (the poll thread's, or one format() call's): the batch being built,
  // the chunk open in it, a line buffer, the date of the last second formatted, and the PID
  // verdicts of the execs it formatted.
  class Writer {
   public:
    explicit Writer(std::vector<uint8_t>* out) : out_(out) {}
    // Ends the open chunk (writes its length); the next record opens a new one.
    void Close();
    // A raw chunk was opened since the last Reset(): JS must see this batch.
    bool has_raw() const { return has_raw_; }
    void Reset() { has_raw_ = false; }
    std::vector<uint32_t> verdict_pids;
    std::vector<struct ctrace_pid_verdict> verdict_values;

   private:
    friend class JsonLane;
    void Begin(uint32_t kind);
    void Append(const void* p, size_t n);
    std::vector<uint8_t>* out_;
    uint32_t kind_ = 0;
    size_t header_at_ = 0;
    bool has_raw_ = false;
    std::string line_;
    std::string process_id_, parent_process_id_;  // the line's processIds, built here
    // an exec's parts, built here: argv, ancestors and their processIds, execId, capabilities
    std::vector<json::Str> argv_;
    std::vector<json_records::Ancestor> ancestors_;
    std::string ancestor_ids_[CTRACE_MAX_ANCESTORS];
    std::string exec_id_, host_path_;
    std::vector<json::Str> capabilities_;
    char cap_hex_[16] = {0};
    json_records::Binary binary_;
    int64_t second_ = -1;
    char time_[32] = {0};  // "2026-11-22T11:02:59.123456789Z", the date part kept for second_
  };

  // boot_id: what processId values begin with (src/events/identity.ts); capability_names: CAP_* by
  // bit (src/events/identity.ts capabilityNames), an unnamed bit is CAP_<n>
  JsonLane(int64_t clock_offset_ns, std::string boot_id, const std::vector<std::string>& capability_names);

  // JS thread.
  void Set(uint64_t key, Cgroup cgroup);
  bool Delete(uint64_t key);
  void Clear();
  size_t Size() const;
  Counts counts() const;

  // JS thread: what JavaScript resolved for an exec it got raw (exec_memory.h).
  void FilenameFound(uint32_t pid, uint64_t start_ns, bool known, std::string name);
  void BinaryFound(uint32_t dev, uint64_t ino, uint64_t ctime_ns, ExecMemory::Binary b);
  // The binary an exec record of (pid, start) named: false when none was seen; *known false: null.
  bool FilenameOf(uint32_t pid, uint64_t start_ns, bool* known, std::string* name) const;
  // The exec and exit records the lane took since the last call (written or filtered), in
  // order, concatenated; the oldest beyond kMaxNotedBytes were dropped (noted_dropped()):
  // JavaScript takes them at least once per stats interval, an exec record is ~2 KiB.
  std::vector<uint8_t> TakeNoted();
  static constexpr size_t kMaxNotedBytes = 4u << 20;
  uint64_t noted_dropped() const { return noted_dropped_.load(std::memory_order_relaxed); }

  // Appends one ring record (hdr.size bytes, already checked against the ring's length).
  // True when it went raw: JavaScript has to see it.
  bool Append(const uint8_t* rec, size_t len, Writer* w);

  // JS wants batches the poll thread wrote (to give the lines to other outputs too).
  void SetDeliverWritten(bool on) { deliver_written_.store(on, std::memory_order_release); }
  // Whether the records the lane takes are noted for JavaScript's process table (TakeNoted):
  // off for a consumer that never asks the table (ctrace run), which then costs no copy per exec.
  void SetNoting(bool on) { noting_.store(on, std::memory_order_release); }
  bool DeliverWritten() const { return deliver_written_.load(std::memory_order_acquire); }
  // Without an fd, lines may wait (up to the reader's hold) to reach JavaScript in larger
  // batches: for a consumer that writes them to a file, not a live one.
  void SetHoldLines(bool on) { hold_lines_.store(on, std::memory_order_release); }
  bool HoldLines() const { return hold_lines_.load(std::memory_order_acquire); }

 private:
  enum class Outcome { kLine, kFiltered, kRaw };
  // Builds the line in w->line_ when the record can take the lane.
  Outcome Format(const uint8_t* rec, size_t len, Writer* w);
  bool Time(uint64_t ktime_ns, Writer* w) const;
  // An exec's ancestors and binary from memory_ into w; false when one is not known.
  bool ExecKnown(const uint8_t* rec, const uint8_t* anc, size_t n_anc, json::Str filename, Writer* w) const;

  const int64_t clock_offset_ns_;
  const std::string boot_id_;
  mutable std::mutex mutex_;
  std::unordered_map<uint64_t, Cgroup> cgroups_;
  ExecMemory memory_;
  std::string capability_names_[64];
  std::deque<std::string> noted_;
  size_t noted_bytes_ = 0;
  std::atomic<uint64_t> noted_dropped_{0};
  std::atomic<uint64_t> exec_{0}, exit_{0}, mount_{0}, filtered_{0}, raw_{0};
  std::atomic<bool> deliver_written_{false};
  std::atomic<bool> hold_lines_{false};
  std::atomic<bool> noting_{true};
};

}  // namespace ctrace

#endif  // CTRACE_NATIVE_JSON_LANE_H
