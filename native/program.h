// class Program: the JS face of the BPF skeleton. Opens, configures and loads the program,
// attaches its hooks, runs the ring reader, and writes verdicts back into the kernel maps.
#ifndef CTRACE_NATIVE_PROGRAM_H
#define CTRACE_NATIVE_PROGRAM_H

#include <napi.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "abi.h"
#include "ring_fill.h"
#include "ring_reader.h"

struct ctrace_bpf;  // the generated skeleton (ctrace.skel.h)
struct bpf_program;
struct bpf_link;

namespace ctrace {

class Program : public Napi::ObjectWrap<Program> {
 public:
  static Napi::Function Define(Napi::Env env);

  explicit Program(const Napi::CallbackInfo& info);
  ~Program() override;

 private:
  struct Options {
    uint32_t host_pidns_ino = 0;
    bool pidns_only = false;
    bool emit_host = false;
    uint32_t event_mask = 0;
    uint64_t wakeup_bytes = 0;
    int32_t v1_subsys_id = -1;
    uint32_t argv_max = CTRACE_ARGV_DEFAULT;  // argv bytes an exec records
    uint32_t ancestors = 8;                   // ancestors an exec records
    uint32_t ring_bytes = 8u << 20;
    // 10 ms: each drain wakes the reader and stdout's writer, which on a VM cost more than the
    // lines they move (bench/README.md); a line still reaches stdout within ~10 ms
    int poll_ms = 10;
  };

  struct Hook {
    std::string name;
    std::string section;
    struct bpf_program* prog = nullptr;
    struct bpf_link* link = nullptr;
    bool required = false;
    bool loaded = true;
    std::string reason;  // why it is not attached, when known
  };

  struct SkelDeleter {
    void operator()(struct ctrace_bpf* skel) const;
  };

  using Counters = std::array<uint64_t, CTRACE_STAT_READ_ERR + 1>;

  static Options ParseOptions(const Napi::CallbackInfo& info);
  static bool IsRequired(const std::string& program);
  static bool IsMountHook(const std::string& program);

  Napi::Value Attach(const Napi::CallbackInfo& info);
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value SetVerdicts(const Napi::CallbackInfo& info);
  Napi::Value SetCgroupVerdict(const Napi::CallbackInfo& info);
  Napi::Value DeleteCgroupVerdict(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Hooks(const Napi::CallbackInfo& info);
  Napi::Value ClockOffsetNs(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  // {used, size}: how full the ring buffer is now (for metrics)
  Napi::Value RingFillNow(const Napi::CallbackInfo& info);
  static Napi::Value CgroupSubsysId(const Napi::CallbackInfo& info);

  void RequireOpen(Napi::Env env, const char* step) const;
  // Sums the per-CPU stats map; returns 0 or a positive errno.
  int ReadCounters(Counters* out) const;
  // Idempotent and JS-free, so the finalizer can run it too.
  void CloseNow();

  Options opts_;
  std::unique_ptr<struct ctrace_bpf, SkelDeleter> skel_;
  std::vector<Hook> hooks_;
  std::unique_ptr<RingReader> reader_;
  Napi::ObjectReference self_;  // keeps a started tracer alive until close()
  bool closed_ = false;
  Counters final_counters_{};  // stats() after close()
  std::unique_ptr<RingFill> ring_fill_;  // mapped on first use
  RingReader::Counts reader_counts_{};  // the reader's, once it is stopped (stats() after close())
};

}  // namespace ctrace

#endif  // CTRACE_NATIVE_PROGRAM_H
