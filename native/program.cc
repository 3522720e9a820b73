#include "program.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmath>
#include <limits>
#include <system_error>
#include <thread>

#include "ctrace.skel.h"
#include "args.h"
#include "errors.h"
#include "kernel_features.h"
#include "libbpf_log.h"
#include "json_lane_binding.h"
#include "pid_verdicts.h"

namespace ctrace {

namespace {

constexpr size_t kHintLogLines = 20;    // libbpf lines quoted in an error message
constexpr size_t kErrorLogLines = 200;  // libbpf lines attached as error.libbpfLog

Napi::Value Field(const Napi::Object& o, const char* name) { return o.Get(name); }

std::string LogHint(const std::vector<std::string>& lines) {
  std::string hint;
  const size_t from = lines.size() > kHintLogLines ? lines.size() - kHintLogLines : 0;
  for (size_t i = from; i < lines.size(); i++) hint += "\n  " + lines[i];
  return hint;
}

std::string ErrnoText(int err) { return std::string(strerror(err)) + " (" + NativeError::Code(err) + ")"; }

// ctrace_bpf__load with SIGPROF blocked on this thread. The verifier gives up with EAGAIN while a
// signal is pending, and V8's sampling profiler (node --cpu-prof) sends SIGPROF every
// millisecond: no load would finish. The profiler's tick comes after the load.
int LoadWithoutSigprof(struct ctrace_bpf* skel) {
  sigset_t prof, old;
  sigemptyset(&prof);
  sigaddset(&prof, SIGPROF);
  const bool blocked = pthread_sigmask(SIG_BLOCK, &prof, &old) == 0;
  const int err = ctrace_bpf__load(skel);
  if (blocked) pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return err;
}

}  // namespace

void Program::SkelDeleter::operator()(struct ctrace_bpf* skel) const { ctrace_bpf__destroy(skel); }

Napi::Function Program::Define(Napi::Env env) {
  return DefineClass(env, "Program",
                     {
                         InstanceMethod<&Program::Attach>("attach"),
                         InstanceMethod<&Program::Start>("start"),
                         InstanceMethod<&Program::SetVerdicts>("setVerdicts"),
                         InstanceMethod<&Program::SetCgroupVerdict>("setCgroupVerdict"),
                         InstanceMethod<&Program::DeleteCgroupVerdict>("deleteCgroupVerdict"),
                         InstanceMethod<&Program::Stats>("stats"),
                         InstanceMethod<&Program::Hooks>("hooks"),
                         InstanceMethod<&Program::ClockOffsetNs>("clockOffsetNs"),
                         InstanceMethod<&Program::Close>("close"),
                         InstanceMethod<&Program::RingFillNow>("ringFill"),
                         StaticMethod<&Program::CgroupSubsysId>("cgroupSubsysId"),
                     });
}

namespace {

struct RootId {
  uint32_t dev = 0;  // the super block's dev_t as the kernel keeps it: major << 20 | minor
  uint64_t ino = 0;
};

// A root directory as the kernel names it: its inode and its file system's device. The device
// comes from mountinfo (sb->s_dev), not from stat(2), which reports a btrfs subvolume's own.
RootId RootOf(const char* root, const char* mountinfo) {
  struct statx stx = {};
  if (statx(AT_FDCWD, root, 0, STATX_INO | STATX_MNT_ID, &stx) != 0 || (stx.stx_mask & STATX_MNT_ID) == 0) return {};
  FILE* f = fopen(mountinfo, "re");
  if (f == nullptr) return {};
  RootId id;
  char line[4096];
  while (fgets(line, sizeof(line), f) != nullptr) {
    unsigned long long mnt_id = 0;
    unsigned parent = 0, major = 0, minor = 0;
    if (sscanf(line, "%llu %u %u:%u", &mnt_id, &parent, &major, &minor) == 4 && mnt_id == stx.stx_mnt_id) {
      id.dev = (major << 20) | minor;
      id.ino = stx.stx_ino;
      break;
    }
  }
  fclose(f);
  return id;
}

RootId HostRoot() {
  const RootId init = RootOf("/proc/1/root", "/proc/1/mountinfo");
  return init.ino != 0 ? init : RootOf("/", "/proc/self/mountinfo");
}

}  // namespace

bool Program::IsMountHook(const std::string& program) {
  return program.rfind("sys_exit_", 0) == 0 || program.rfind("sys_enter_", 0) == 0;
}

bool Program::IsRequired(const std::string& program) {
  return program == "sched_process_exec" || program == "sched_process_exit" || program == "sys_exit_mount";
}

Program::Options Program::ParseOptions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject() || info[0].IsArray() || info[0].IsFunction())
    ThrowType(env, "Program options", "an object");
  const Napi::Object o = info[0].As<Napi::Object>();
  auto boolean = [&](const char* name) {
    const Napi::Value v = Field(o, name);
    if (!v.IsBoolean()) ThrowType(env, std::string("options.") + name, "a boolean");
    return v.As<Napi::Boolean>().Value();
  };
  auto integer = [&](const char* name, double min, double max) {
    return Integer(env, Field(o, name), std::string("options.") + name, min, max);
  };
  constexpr double kU32 = 4294967295.0;
  constexpr double kSafe = 9007199254740991.0;

  Options opts;
  opts.host_pidns_ino = static_cast<uint32_t>(integer("hostPidnsIno", 0, kU32));
  opts.pidns_only = boolean("pidnsOnly");
  opts.emit_host = boolean("emitHost");
  opts.event_mask = static_cast<uint32_t>(integer("eventMask", 0, kU32));
  opts.wakeup_bytes = static_cast<uint64_t>(integer("wakeupBytes", 0, kSafe));
  opts.v1_subsys_id = static_cast<int32_t>(integer("v1SubsysId", -1, 2147483647.0));
  if (!Field(o, "argvMax").IsUndefined())
    opts.argv_max = static_cast<uint32_t>(integer("argvMax", 0, CTRACE_ARGV_LEN));
  if (!Field(o, "ancestors").IsUndefined())
    opts.ancestors = static_cast<uint32_t>(integer("ancestors", 0, CTRACE_MAX_ANCESTORS));
  if (!Field(o, "ringBytes").IsUndefined()) {
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    const auto ring = static_cast<uint32_t>(integer("ringBytes", page, 1u << 30));
    if ((ring & (ring - 1)) != 0) ThrowRange(env, "options.ringBytes", "a power of 2");
    opts.ring_bytes = ring;
  }
  if (!Field(o, "pollMs").IsUndefined()) opts.poll_ms = static_cast<int>(integer("pollMs", 1, 60000));
  return opts;
}

Program::Program(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Program>(info) {
  Napi::Env env = info.Env();
  if (!info.IsConstructCall()) throw Napi::TypeError::New(env, "Program must be called with new");
  opts_ = ParseOptions(info);
  LibbpfLog::Install();

  if (!KernelFeatures::HasVmlinuxBtf())
    NativeError::Throw(env, "open", ENOENT, "kernel has no BTF (needs CONFIG_DEBUG_INFO_BTF=y, kernel >= 5.8)");
  if (const int err = KernelFeatures::EnsureTracefs(); err == EACCES) {
    char mode[8];
    snprintf(mode, sizeof mode, "%04o", KernelFeatures::TracefsMode() & 07777);
    NativeError::Throw(env, "tracefs", err,
                       "tracefs is mounted at " + KernelFeatures::TracefsRoot() + " but its mode " + mode +
                           " keeps this user out; tracepoint programs cannot attach without it: run as root, or with " +
                           NativeError::kCapabilities);
  } else if (err != 0) {
    NativeError::Throw(env, "tracefs", err,
                       "tracefs is not mounted and mounting it at " + KernelFeatures::TracefsRoot() +
                           " failed; tracepoint programs cannot attach without it" +
                           (err == EPERM ? " (mounting needs root or CAP_SYS_ADMIN; or mount it: mount -t tracefs nodev " +
                                               KernelFeatures::TracefsRoot() + ")"
                                         : ""));
  }

  uint64_t mark = LibbpfLog::Mark();
  skel_.reset(ctrace_bpf__open());
  if (!skel_) {
    const int err = errno;
    const auto log = LibbpfLog::Since(mark, kErrorLogLines);
    NativeError::Throw(env, "open", err, log.empty() ? "" : "libbpf:" + LogHint(log), log);
  }

  skel_->rodata->cfg_host_pidns_ino = opts_.host_pidns_ino;
  skel_->rodata->cfg_pidns_only = opts_.pidns_only ? 1 : 0;
  skel_->rodata->cfg_emit_host = opts_.emit_host ? 1 : 0;
  skel_->rodata->cfg_event_mask = opts_.event_mask;
  skel_->rodata->cfg_wakeup_bytes = opts_.wakeup_bytes;
  skel_->rodata->cfg_v1_subsys_id = opts_.v1_subsys_id;
  skel_->rodata->cfg_argv_max = opts_.argv_max;
  skel_->rodata->cfg_ancestors = opts_.ancestors;
  // The host's root directory (PID 1's, else ours: ctrace runs on the host): a task outside the
  // host PID namespace with another root is isolated whatever its cgroup says. Unknown: no check.
  if (const auto root = HostRoot(); root.ino != 0) {
    skel_->rodata->cfg_host_root_dev = root.dev;
    skel_->rodata->cfg_host_root_ino = root.ino;
  }

  if (const int err = bpf_map__set_max_entries(skel_->maps.events, opts_.ring_bytes); err != 0)
    NativeError::Throw(env, "ringbuf", -err, "cannot size the ring buffer to options.ringBytes");
  // one scratch record per CPU (an exec record is larger than a per-CPU map's 32 KiB limit)
  if (const int cpus = libbpf_num_possible_cpus(); cpus > 0) {
    if (const int err = bpf_map__set_max_entries(skel_->maps.scratch, static_cast<uint32_t>(cpus)); err != 0)
      NativeError::Throw(env, "scratch", -err, "cannot size the scratch map");
  }

  // Degrade, don't die: an optional hook whose tracepoint this kernel lacks is not loaded.
  KernelFeatures features;
  struct bpf_program* prog;
  bpf_object__for_each_program(prog, skel_->obj) {
    Hook hook;
    hook.name = bpf_program__name(prog);
    hook.section = bpf_program__section_name(prog);
    hook.prog = prog;
    hook.required = IsRequired(hook.name);
    std::string reason;
    // The mount family sits on syscall tracepoints, which put every syscall of every task on
    // the kernel's slower tracing path while attached: not attached when mounts are not traced.
    if (IsMountHook(hook.name) && (opts_.event_mask & (1u << CTRACE_EV_MOUNT)) == 0) {
      bpf_program__set_autoload(prog, false);
      hook.loaded = false;
      hook.required = false;
      hook.reason = "mount events not traced";
    } else if (!features.HookExists(hook.section, &reason)) {
      if (hook.required) NativeError::Throw(env, "load", ENOENT, "required hook " + hook.name + ": " + reason);
      bpf_program__set_autoload(prog, false);
      hook.loaded = false;
      hook.reason = reason;
    }
    hooks_.push_back(std::move(hook));
  }

  mark = LibbpfLog::Mark();
  if (const int err = LoadWithoutSigprof(skel_.get()); err != 0) {
    const int e = -err;
    const auto log = LibbpfLog::Since(mark, kErrorLogLines);
    std::string hint;
    if ((e == EPERM || e == EACCES) && geteuid() != 0) hint = NativeError::DefaultHint(e);
    if (!log.empty()) hint += (hint.empty() ? "" : "; ") + std::string("the kernel rejected the program; libbpf:") + LogHint(log);
    NativeError::Throw(env, "load", e, hint, log);
  }
}

Program::~Program() {
  // Only reachable at environment teardown while started (self_ holds us otherwise):
  // the reference is torn down with the environment, do not touch it here.
  if (!self_.IsEmpty()) self_.SuppressDestruct();
  CloseNow();
}

void Program::RequireOpen(Napi::Env env, const char* step) const {
  if (closed_ || !skel_) NativeError::Throw(env, step, EBADF, "the tracer is closed");
}

Napi::Value Program::Attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "attach");
  for (Hook& hook : hooks_) {
    if (!hook.loaded || hook.link != nullptr) continue;
    const uint64_t mark = LibbpfLog::Mark();
    struct bpf_link* link = bpf_program__attach(hook.prog);
    if (link == nullptr) {
      const int err = errno;
      hook.reason = "attach failed: " + ErrnoText(err);
      if (hook.required) {
        const auto log = LibbpfLog::Since(mark, kErrorLogLines);
        std::string hint = "required hook " + hook.name + " (" + hook.section + ")";
        if ((err == EPERM || err == EACCES) && geteuid() != 0) hint += ": " + NativeError::DefaultHint(err);
        if (!log.empty()) hint += "; libbpf:" + LogHint(log);
        NativeError::Throw(env, "attach", err, hint, log);
      }
      continue;
    }
    hook.link = link;
    hook.reason.clear();
  }
  Napi::Array names = Napi::Array::New(env);
  uint32_t i = 0;
  for (const Hook& hook : hooks_) {
    if (hook.link != nullptr) names.Set(i++, hook.name);
  }
  return names;
}

Napi::Value Program::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) ThrowType(env, "start(onBatch): onBatch", "a function");
  std::shared_ptr<JsonLane> lane;
  std::shared_ptr<OutQueue> out;
  std::shared_ptr<LogWriter> log;
  if (info.Length() > 1 && !info[1].IsUndefined() && !info[1].IsNull()) {
    lane = JsonLaneBinding::From(env, info[1], "start(onBatch, lane): lane");
    out = JsonLaneBinding::OutputOf(info[1]);
    log = JsonLaneBinding::LogOf(info[1]);
  }
  RequireOpen(env, "start");
  if (reader_) NativeError::Throw(env, "start", EALREADY, "the tracer is already started");
  reader_ = std::make_unique<RingReader>(env, bpf_map__fd(skel_->maps.events), opts_.ring_bytes,
                                         info[0].As<Napi::Function>(), opts_.poll_ms, std::move(lane),
                                         bpf_map__fd(skel_->maps.pid_verdicts), &skel_->bss->reader_idle,
                                         std::move(out), std::move(log));
  self_ = Napi::Persistent(Value());
  return env.Undefined();
}

Napi::Value Program::SetVerdicts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto pids = Typed<uint32_t>(env, info[0], napi_uint32_array, "setVerdicts: pids", "a Uint32Array");
  const auto verdicts = Typed<uint8_t>(env, info[1], napi_uint8_array, "setVerdicts: verdicts", "a Uint8Array");
  const auto keys = Typed<uint64_t>(env, info[2], napi_biguint64_array, "setVerdicts: cgroupKeys", "a BigUint64Array");
  const size_t n = pids.ElementLength();
  if (verdicts.ElementLength() != n || keys.ElementLength() != n)
    ThrowRange(env, "setVerdicts: pids, verdicts and cgroupKeys", "of the same length");
  RequireOpen(env, "map");
  if (n == 0) return env.Undefined();

  std::vector<uint32_t> k(pids.Data(), pids.Data() + n);
  std::vector<struct ctrace_pid_verdict> v(n);
  for (size_t i = 0; i < n; i++) {
    v[i].cgroup_key = keys[i];
    v[i].verdict = verdicts[i];
  }
  const int err = UpdatePidVerdicts(bpf_map__fd(skel_->maps.pid_verdicts), &k, &v);
  if (err != 0) NativeError::Throw(env, "map", err, "pid_verdicts update");
  return env.Undefined();
}

Napi::Value Program::SetCgroupVerdict(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint64_t key = BigU64(env, info[0], "setCgroupVerdict: key");
  const auto verdict = static_cast<uint32_t>(Integer(env, info[1], "setCgroupVerdict: verdict", 0, 255));
  RequireOpen(env, "map");
  struct ctrace_cgroup_verdict value = {};
  value.verdict = verdict;
  const int err =
      bpf_map__update_elem(skel_->maps.cgroup_verdicts, &key, sizeof(key), &value, sizeof(value), BPF_ANY);
  if (err != 0) NativeError::Throw(env, "map", -err, "cgroup_verdicts update");
  return env.Undefined();
}

// deleteCgroupVerdict(key): a removed cgroup's verdict, written after the kernel had already
// dropped it (userland classified the cgroup after it was gone). A missing key is no error.
Napi::Value Program::DeleteCgroupVerdict(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint64_t key = BigU64(env, info[0], "deleteCgroupVerdict: key");
  RequireOpen(env, "map");
  const int err = bpf_map__delete_elem(skel_->maps.cgroup_verdicts, &key, sizeof(key), 0);
  if (err != 0 && err != -ENOENT) NativeError::Throw(env, "map", -err, "cgroup_verdicts delete");
  return env.Undefined();
}

int Program::ReadCounters(Counters* out) const {
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return ncpu < 0 ? -ncpu : EINVAL;
  std::vector<uint64_t> per_cpu(static_cast<size_t>(ncpu));
  for (uint32_t i = 0; i < out->size(); i++) {
    const int err = bpf_map__lookup_elem(skel_->maps.stats, &i, sizeof(i), per_cpu.data(),
                                         per_cpu.size() * sizeof(uint64_t), 0);
    if (err != 0) return -err;
    uint64_t sum = 0;
    for (uint64_t x : per_cpu) sum += x;
    (*out)[i] = sum;
  }
  return 0;
}

Napi::Value Program::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Counters c = final_counters_;
  RingReader::Counts reader = reader_counts_;
  if (!closed_) {
    if (const int err = ReadCounters(&c); err != 0) NativeError::Throw(env, "map", err, "stats lookup");
    if (reader_) reader += reader_->counts();
  }
  auto num = [&](uint64_t x) { return Napi::Number::New(env, static_cast<double>(x)); };
  Napi::Object o = Napi::Object::New(env);
  o.Set("emitted", num(c[CTRACE_STAT_EMITTED]));
  o.Set("lost", num(c[CTRACE_STAT_LOST]));
  o.Set("mapErrors", num(c[CTRACE_STAT_MAP_ERR]));
  o.Set("droppedHost", num(c[CTRACE_STAT_DROPPED_HOST]));
  o.Set("readErrors", num(c[CTRACE_STAT_READ_ERR]));
  o.Set("malformed", num(reader.malformed));
  o.Set("verdictErrors", num(reader.verdict_errors));
  o.Set("readerWakeups", num(reader.wakeups));
  o.Set("readerAsks", num(reader.asks));
  return o;
}

Napi::Value Program::Hooks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env, hooks_.size());
  for (size_t i = 0; i < hooks_.size(); i++) {
    const Hook& hook = hooks_[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", hook.name);
    o.Set("attached", Napi::Boolean::New(env, hook.link != nullptr));
    o.Set("required", Napi::Boolean::New(env, hook.required));
    if (!hook.reason.empty()) o.Set("reason", hook.reason);
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}

Napi::Value Program::ClockOffsetNs(const Napi::CallbackInfo& info) {
  // CLOCK_REALTIME - CLOCK_MONOTONIC, from the tightest of a few bracketed samples.
  auto ns = [](const struct timespec& t) { return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec; };
  int64_t best_window = std::numeric_limits<int64_t>::max();
  int64_t offset = 0;
  for (int i = 0; i < 5; i++) {
    struct timespec m1, r, m2;
    clock_gettime(CLOCK_MONOTONIC, &m1);
    clock_gettime(CLOCK_REALTIME, &r);
    clock_gettime(CLOCK_MONOTONIC, &m2);
    const int64_t window = ns(m2) - ns(m1);
    if (window < best_window) {
      best_window = window;
      offset = ns(r) - (ns(m1) + window / 2);
    }
  }
  return Napi::BigInt::New(info.Env(), offset);
}

Napi::Value Program::Close(const Napi::CallbackInfo& info) {
  CloseNow();
  self_.Reset();
  return info.Env().Undefined();
}

void Program::CloseNow() {
  if (closed_) return;
  closed_ = true;
  // Detach first, so the reader's final drain sees every record the hooks will ever write.
  // Detaching a tp/ link waits for an RCU grace period each: side by side.
  std::vector<std::thread> detachers;
  for (Hook& hook : hooks_) {
    if (hook.link != nullptr) {
      struct bpf_link* link = hook.link;
      try {
        detachers.emplace_back([link] { bpf_link__destroy(link); });
      } catch (const std::system_error&) {
        bpf_link__destroy(link);
      }
      hook.link = nullptr;
      hook.reason = "closed";
    }
    hook.prog = nullptr;
  }
  for (std::thread& t : detachers) t.join();
  if (reader_) {
    reader_->Stop();  // drains the ring, joins the poll thread; queued batches still reach JS
    reader_counts_ += reader_->counts();
    reader_.reset();
  }
  if (skel_) {
    Counters c{};
    if (ReadCounters(&c) == 0) final_counters_ = c;
  }
  ring_fill_.reset();
  skel_.reset();
}

Napi::Value Program::RingFillNow(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "ringFill");
  if (!ring_fill_) {
    auto fill = std::make_unique<RingFill>();
    if (const int err = fill->Open(bpf_map__fd(skel_->maps.events)); err != 0)
      NativeError::Throw(env, "ringbuf", err, "mapping the ring buffer positions");
    ring_fill_ = std::move(fill);
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("used", Napi::Number::New(env, static_cast<double>(ring_fill_->Used())));
  o.Set("size", Napi::Number::New(env, opts_.ring_bytes));
  return o;
}

Napi::Value Program::CgroupSubsysId(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) ThrowType(env, "cgroupSubsysId(controller): controller", "a string");
  KernelFeatures features;
  return Napi::Number::New(env, features.CgroupSubsysId(info[0].As<Napi::String>().Utf8Value()));
}

}  // namespace ctrace
