#include "json_lines.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cstddef>

#include "json_records.h"
#include "text.h"

namespace ctrace {

namespace json = ::ctrace::json;
namespace rec_json = ::ctrace::json_records;

namespace {

// Integers JavaScript decodes exactly from the kernel record (src/abi.ts): a record beyond
// goes to JavaScript raw.
constexpr uint64_t kMaxSafe = 9007199254740992ull;  // 2^53

template <typename T>
T Read(const uint8_t* p) {
  T v;
  memcpy(&v, p, sizeof(v));
  return v;
}

// A NUL-terminated string in a fixed field (src/bytes.ts decodeCString).
json::Str CString(const uint8_t* p, size_t max) {
  const void* z = memchr(p, 0, max);
  return {p, z != nullptr ? static_cast<const uint8_t*>(z) : p + max};
}

// The same, absent (null) when empty: the JSON form says null for absent data.
json::Str CStringOrNull(const uint8_t* p, size_t max) {
  json::Str v = CString(p, max);
  if (v.p == v.end) v.p = v.end = nullptr;
  return v;
}



}  // namespace

void JsonLines::Writer::Begin(uint32_t kind) {
  if (kind_ == kind) return;
  Close();
  kind_ = kind;
  if (kind == kChunkRaw) has_raw_ = true;
  header_at_ = out_->size();
  const uint32_t header[2] = {kind, 0};
  Append(header, sizeof(header));
}

void JsonLines::Writer::Close() {
  if (kind_ == 0) return;
  const auto len = static_cast<uint32_t>(out_->size() - header_at_ - kChunkHeader);
  memcpy(out_->data() + header_at_ + 4, &len, sizeof(len));
  kind_ = 0;
}

void JsonLines::Writer::Append(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  out_->insert(out_->end(), b, b + n);
}

void JsonLines::Set(uint64_t key, Cgroup cgroup) {
  std::lock_guard<std::mutex> lock(mutex_);
  cgroups_[key] = std::move(cgroup);
}

bool JsonLines::Delete(uint64_t key) {
  std::lock_guard<std::mutex> lock(mutex_);
  return cgroups_.erase(key) > 0;
}

void JsonLines::Clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  cgroups_.clear();
}

size_t JsonLines::Size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return cgroups_.size();
}

JsonLines::Counts JsonLines::counts() const {
  Counts c;
  c.exec = exec_.load(std::memory_order_relaxed);
  c.exit = exit_.load(std::memory_order_relaxed);
  c.mount = mount_.load(std::memory_order_relaxed);
  c.filtered = filtered_.load(std::memory_order_relaxed);
  c.raw = raw_.load(std::memory_order_relaxed);
  return c;
}

void JsonLines::Append(const uint8_t* rec, size_t len, Writer* w) {
  Outcome outcome;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    outcome = Format(rec, len, w);
  }
  switch (outcome) {
    case Outcome::kLine:
      w->Begin(kChunkLines);
      w->Append(w->line_.data(), w->line_.size());
      break;
    case Outcome::kFiltered:
      filtered_.fetch_add(1, std::memory_order_relaxed);
      break;
    case Outcome::kRaw:
      raw_.fetch_add(1, std::memory_order_relaxed);
      w->Begin(kChunkRaw);
      w->Append(rec, len);
      break;
  }
}

// ISO-8601 UTC with nanoseconds, as src/clock.ts writes it, into w->time_; the date part
// once per second.
bool JsonLines::Time(uint64_t ktime_ns, Writer* w) const {
  if (ktime_ns > static_cast<uint64_t>(INT64_MAX) - (clock_offset_ns_ > 0 ? clock_offset_ns_ : 0)) return false;
  const int64_t wall = static_cast<int64_t>(ktime_ns) + clock_offset_ns_;
  if (wall < 0) return false;
  const int64_t sec = wall / 1000000000;
  const int64_t frac = wall % 1000000000;
  if (sec != w->second_) {
    const time_t t = static_cast<time_t>(sec);
    struct tm tm;
    if (gmtime_r(&t, &tm) == nullptr || tm.tm_year + 1900 > 9999) return false;  // JS writes +YYYYYY
    const int n = snprintf(w->time_, sizeof(w->time_), "%04d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900,
                           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (n != 20) return false;
    w->second_ = sec;
  }
  int64_t f = frac;
  for (int i = 28; i >= 20; i--) {
    w->time_[i] = static_cast<char>('0' + f % 10);
    f /= 10;
  }
  w->time_[29] = 'Z';
  return true;
}

JsonLines::Outcome JsonLines::Format(const uint8_t* rec, size_t len, Writer* w) {
  const auto hdr = Read<struct ctrace_hdr>(rec);
  // the shapes src/abi.ts decodes; anything else is JavaScript's to skip or report
  size_t min;
  const char* type;
  switch (hdr.type) {
    // an exec's line carries what only JavaScript knows (its ancestors' binaries, its own
    // binary's hash, whether it entered the container): it takes the object path
    case CTRACE_EV_EXEC: return Outcome::kRaw;
    case CTRACE_EV_EXIT: min = sizeof(struct ctrace_exit); type = "exit"; break;
    case CTRACE_EV_MOUNT: min = sizeof(struct ctrace_mount); type = "mount"; break;
    default: return Outcome::kRaw;
  }
  if (len < min) return Outcome::kRaw;
  // an isolated task in a host-looking cgroup: JavaScript says why it is reported
  if ((hdr.flags & CTRACE_F_ISOLATED) != 0) return Outcome::kRaw;
  const uint8_t* task = rec + offsetof(struct ctrace_exec, task);
  const auto field = [&](size_t off) { return Read<uint32_t>(task + off); };
  const uint64_t key = Read<uint64_t>(task + offsetof(struct ctrace_task, cgroup_key));
  const auto it = cgroups_.find(key);
  if (it == cgroups_.end()) return Outcome::kRaw;
  const Cgroup& cg = it->second;
  // JavaScript falls back to /proc for a missing nspid
  const uint32_t nspid = field(offsetof(struct ctrace_task, nspid));
  if (nspid == 0 || cg.v1 != ((hdr.flags & CTRACE_F_CG_V1) != 0)) return Outcome::kRaw;
  // the end of a PID namespace: JavaScript forgets which container it was (src/isolation.ts)
  if (hdr.type == CTRACE_EV_EXIT && nspid == 1 && (hdr.flags & CTRACE_F_HOST_PIDNS) == 0) return Outcome::kRaw;
  const uint64_t cgroup_id = key & ~CTRACE_CGKEY_V1;
  if (cgroup_id > kMaxSafe) return Outcome::kRaw;
  // An exec the kernel decided with this cgroup's verdict needs no PID verdict of its own: the
  // kernel decides the process's later events from the cgroup map just as cheaply, and an LRU
  // update per exec was ~5 % of this thread's CPU in an exec storm. Only an exec the kernel
  // decided otherwise (the cgroup's entry evicted, a stale PID verdict) gets one, as JavaScript
  // writes for every exec it classifies, passed on or filtered.
  if (hdr.type == CTRACE_EV_EXEC && task[offsetof(struct ctrace_task, verdict)] != cg.verdict) {
    w->verdict_pids.push_back(field(offsetof(struct ctrace_task, tgid)));
    w->verdict_values.push_back(ctrace_pid_verdict{key, cg.verdict, {0}});
  }
  if (!cg.emit) return Outcome::kFiltered;

  // the event's own fields, then the cgroup's attribution as JavaScript wrote it, then the
  // detail: json_records.h (generated from proto/ctrace.proto) writes them
  if (!Time(hdr.ktime_ns, w)) return Outcome::kRaw;
  rec_json::EventHead head;
  head.time = {w->time_, 30};
  head.pid = field(offsetof(struct ctrace_task, tgid));
  head.tid = field(offsetof(struct ctrace_task, pid));
  head.ppid = field(offsetof(struct ctrace_task, ppid));
  head.nspid = nspid;
  head.uid = field(offsetof(struct ctrace_task, uid));
  head.gid = field(offsetof(struct ctrace_task, gid));
  head.comm = CString(task + offsetof(struct ctrace_task, comm), CTRACE_COMM_LEN);
  head.cgroup_id = cgroup_id;
  head.pid_ns = field(offsetof(struct ctrace_task, pidns_ino));
  head.mnt_ns = field(offsetof(struct ctrace_task, mntns_ino));
  // identity (src/identity.ts processId): boot id, start time since boot, pid; null without a start time
  rec_json::EventTail tail;
  const auto process_id = [&](std::string* buf, uint32_t pid, uint64_t start) -> json::Str {
    if (pid == 0 || start == 0) return {nullptr, nullptr};
    buf->assign(boot_id_);
    buf->push_back(':');
    AppendUint(buf, start);
    buf->push_back(':');
    AppendUint(buf, pid);
    const auto* p = reinterpret_cast<const uint8_t*>(buf->data());
    return {p, p + buf->size()};
  };
  tail.process_id = process_id(&w->process_id_, head.pid, Read<uint64_t>(task + offsetof(struct ctrace_task, start_ns)));
  tail.parent_process_id =
      process_id(&w->parent_process_id_, head.ppid, Read<uint64_t>(task + offsetof(struct ctrace_task, parent_start_ns)));

  std::string* s = &w->line_;
  s->clear();
  s->append("{\"type\":\"");
  s->append(type);
  s->push_back('"');
  rec_json::WriteHead(s, head);
  s->append(cg.fragment);
  rec_json::WriteTail(s, tail);

  switch (hdr.type) {
    case CTRACE_EV_EXIT: {
      const uint32_t status = Read<uint32_t>(rec + offsetof(struct ctrace_exit, exit_code));
      const uint64_t start = Read<uint64_t>(rec + offsetof(struct ctrace_exit, start_ns));
      const uint32_t signal = status & 0x7f;
      // a wait status: exit code in bits 8-15, or the signal in 0-6 and a core flag in 7
      rec_json::Exit x;
      x.code = static_cast<int32_t>(signal != 0 ? 0 : (status >> 8) & 0xff);
      x.signal = static_cast<int32_t>(signal);
      x.core_dumped = (status & 0x80) != 0;
      x.duration_ns = start > 0 && hdr.ktime_ns > start ? hdr.ktime_ns - start : 0;
      if (x.duration_ns > kMaxSafe) return Outcome::kRaw;
      rec_json::WriteExit(s, x);
      exit_.fetch_add(1, std::memory_order_relaxed);
      break;
    }
    case CTRACE_EV_MOUNT: {
      const uint32_t op = Read<uint32_t>(rec + offsetof(struct ctrace_mount, op));
      const uint32_t mf = Read<uint32_t>(rec + offsetof(struct ctrace_mount, mflags));
      rec_json::Mount x;
      x.op = op == CTRACE_MOUNT_OP_MOVE_MOUNT ? json::Lit{"move_mount", 10} : json::Lit{"mount", 5};
      x.source = CStringOrNull(rec + offsetof(struct ctrace_mount, source), CTRACE_PATH_LEN);
      x.target = CStringOrNull(rec + offsetof(struct ctrace_mount, target), CTRACE_PATH_LEN);
      x.fstype = CStringOrNull(rec + offsetof(struct ctrace_mount, fstype), CTRACE_FSTYPE_LEN);
      x.flags = Read<uint64_t>(rec + offsetof(struct ctrace_mount, flags));
      x.ret = Read<int64_t>(rec + offsetof(struct ctrace_mount, ret));
      if (x.flags > kMaxSafe || x.ret > static_cast<int64_t>(kMaxSafe) || x.ret < -static_cast<int64_t>(kMaxSafe))
        return Outcome::kRaw;
      x.source_truncated = (mf & CTRACE_MF_SOURCE_TRUNC) != 0;
      x.target_truncated = (mf & CTRACE_MF_TARGET_TRUNC) != 0;
      x.fstype_truncated = (mf & CTRACE_MF_FSTYPE_TRUNC) != 0;
      x.args_changed = (mf & CTRACE_MF_ARGS_CHANGED) != 0;
      x.args_unverified = (mf & CTRACE_MF_ARGS_UNVERIFIED) != 0;
      x.kernel_view = (mf & CTRACE_MF_KERNEL_VIEW) != 0;
      rec_json::WriteMount(s, x);
      mount_.fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }

  return Outcome::kLine;
}

}  // namespace ctrace
