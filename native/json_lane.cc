#include "json_lane.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cstddef>

#include "text.h"

namespace ctrace {

namespace json = ::ctrace::json;
namespace rec_json = ::ctrace::json_records;

namespace {

// Integers JavaScript decodes exactly from the kernel record (src/decode/abi.ts): a record beyond
// goes to JavaScript raw.
constexpr uint64_t kMaxSafe = 9007199254740992ull;  // 2^53

template <typename T>
T Read(const uint8_t* p) {
  T v;
  memcpy(&v, p, sizeof(v));
  return v;
}

// A NUL-terminated string in a fixed field (src/util/bytes.ts decodeCString).
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

// An exec record's variable part (src/decode/abi.ts decodeBatch): its ancestors, the cgroup's names,
// the filename and the working directory with their NULs, then argv, each cut to what the record
// holds. False: too short for its ancestors.
struct ExecData {
  const uint8_t* ancestors;
  size_t n_ancestors;
  json::Str filename;
  json::Str cwd;
  const uint8_t* argv;
  size_t argv_len;
};

bool ParseExec(const uint8_t* rec, size_t len, ExecData* x) {
  const size_t data = offsetof(struct ctrace_exec, data);
  if (len <= data) return false;
  size_t n = rec[offsetof(struct ctrace_exec, n_ancestors)];
  if (n > CTRACE_MAX_ANCESTORS) n = CTRACE_MAX_ANCESTORS;
  // the cgroup's names, when sent, lie between the ancestors and the filename
  const size_t names = rec[offsetof(struct ctrace_exec, task) + offsetof(struct ctrace_task, cg_depth)];
  const size_t file_at = data + n * sizeof(struct ctrace_ancestor) + (names > CTRACE_CG_LEVELS ? CTRACE_CG_LEVELS : names) * CTRACE_CG_NAME_LEN;
  if (len <= file_at) return false;
  size_t file_len = Read<uint32_t>(rec + offsetof(struct ctrace_exec, filename_len));
  if (file_len > len - file_at - 1) file_len = len - file_at - 1;
  // the working directory and its NUL, then argv (src/decode/abi.ts decodeBatch)
  const size_t cwd_at = file_at + file_len + 1;
  const size_t rest = len - cwd_at;
  size_t cwd_len = Read<uint32_t>(rec + offsetof(struct ctrace_exec, cwd_len));
  if (rest == 0) cwd_len = 0;
  else if (cwd_len > rest - 1) cwd_len = rest - 1;
  const size_t argv_at = rest == 0 ? len : cwd_at + cwd_len + 1;
  size_t argv_len = Read<uint32_t>(rec + offsetof(struct ctrace_exec, argv_len));
  if (argv_len > len - argv_at) argv_len = len - argv_at;
  x->ancestors = rec + data;
  x->n_ancestors = n;
  x->filename = {rec + file_at, rec + file_at + file_len};
  x->cwd = CString(rec + cwd_at, cwd_len);
  x->argv = rec + argv_at;
  x->argv_len = argv_len;
  return true;
}

// argv: NUL-separated, every string the capture holds (src/decode/abi.ts splitArgv).
void SplitArgv(const uint8_t* p, size_t len, std::vector<json::Str>* out) {
  out->clear();
  const uint8_t* end = p + len;
  while (p < end) {
    const void* z = memchr(p, 0, end - p);
    const uint8_t* stop = z != nullptr ? static_cast<const uint8_t*>(z) : end;
    out->push_back({p, stop});
    p = stop + 1;
  }
}

// A name that can be looked up again (src/enrich/binary-hash.ts pathOnDisk).
bool PathOnDisk(json::Str f) {
  const size_t n = f.end - f.p;
  const auto starts = [&](const char* pre, size_t k) { return n >= k && memcmp(f.p, pre, k) == 0; };
  return starts("/", 1) && !starts("/proc/", 6) && !starts("/dev/fd/", 8);
}

json::Str StrOf(const std::string& s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  return {p, p + s.size()};
}

// A processId (src/events/identity.ts): boot id, start time since boot, pid; null without a start time.
json::Str ProcessId(const std::string& boot_id, std::string* buf, uint32_t pid, uint64_t start) {
  if (pid == 0 || start == 0) return {nullptr, nullptr};
  buf->assign(boot_id);
  buf->push_back(':');
  AppendUint(buf, start);
  buf->push_back(':');
  AppendUint(buf, pid);
  return StrOf(*buf);
}

}  // namespace

JsonLane::JsonLane(int64_t clock_offset_ns, std::string boot_id, const std::vector<std::string>& capability_names)
    : clock_offset_ns_(clock_offset_ns), boot_id_(std::move(boot_id)) {
  for (size_t i = 0; i < 64; i++) {
    if (i < capability_names.size()) {
      capability_names_[i] = capability_names[i];
    } else {
      capability_names_[i] = "CAP_";
      AppendUint(&capability_names_[i], i);
    }
  }
}

void JsonLane::Writer::Begin(uint32_t kind) {
  if (kind_ == kind) return;
  Close();
  kind_ = kind;
  if (kind == kChunkRaw) has_raw_ = true;
  header_at_ = BeginChunk(out_, kind);
}

void JsonLane::Writer::Close() {
  if (kind_ == 0) return;
  EndChunk(out_, header_at_);
  kind_ = 0;
}

void JsonLane::Writer::Append(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  out_->insert(out_->end(), b, b + n);
}

void JsonLane::Set(uint64_t key, Cgroup cgroup) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = cgroups_.find(key);
  if (it != cgroups_.end()) cgroup.pidns_pending = cgroup.pidns_pending && it->second.pidns_pending;
  cgroups_[key] = std::move(cgroup);
}

bool JsonLane::Delete(uint64_t key) {
  std::lock_guard<std::mutex> lock(mutex_);
  return cgroups_.erase(key) > 0;
}

void JsonLane::Clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  cgroups_.clear();
}

size_t JsonLane::Size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return cgroups_.size();
}

JsonLane::Counts JsonLane::counts() const {
  Counts c;
  c.exec = exec_.load(std::memory_order_relaxed);
  c.exit = exit_.load(std::memory_order_relaxed);
  c.mount = mount_.load(std::memory_order_relaxed);
  c.filtered = filtered_.load(std::memory_order_relaxed);
  c.raw = raw_.load(std::memory_order_relaxed);
  return c;
}

void JsonLane::FilenameFound(uint32_t pid, uint64_t start_ns, bool known, std::string name) {
  std::lock_guard<std::mutex> lock(mutex_);
  memory_.FilenameFound(pid, start_ns, known, std::move(name));
}

void JsonLane::BinaryFound(uint32_t dev, uint64_t ino, uint64_t ctime_ns, ExecMemory::Binary b) {
  std::lock_guard<std::mutex> lock(mutex_);
  memory_.BinaryFound(dev, ino, ctime_ns, std::move(b));
}

bool JsonLane::FilenameOf(uint32_t pid, uint64_t start_ns, bool* known, std::string* name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const ExecMemory::Filename* f = memory_.FilenameOf(pid, start_ns);
  if (f == nullptr || !f->from_exec) return false;
  *known = f->has_name;
  *name = f->name;
  return true;
}

std::vector<uint8_t> JsonLane::TakeNoted() {
  std::deque<std::string> taken;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    taken.swap(noted_);
    noted_bytes_ = 0;
  }
  size_t n = 0;
  for (const auto& r : taken) n += r.size();
  std::vector<uint8_t> out;
  out.reserve(n);
  for (const auto& r : taken) out.insert(out.end(), r.begin(), r.end());
  return out;
}

bool JsonLane::Append(const uint8_t* rec, size_t len, Writer* w) {
  Outcome outcome;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    outcome = Format(rec, len, w);
    const auto type = Read<struct ctrace_hdr>(rec).type;
    if (type == CTRACE_EV_EXEC) {
      // every exec's binary, whichever way its record goes: its children's lines name it
      ExecData x;
      if (ParseExec(rec, len, &x)) {
        const uint8_t* task = rec + offsetof(struct ctrace_exec, task);
        memory_.ExecSeen(Read<uint32_t>(task + offsetof(struct ctrace_task, tgid)),
                         Read<uint64_t>(task + offsetof(struct ctrace_task, start_ns)), x.filename.p,
                         x.filename.end - x.filename.p);
      }
    }
    // what JavaScript's process table learns from the records it does not get
    if (outcome != Outcome::kRaw && (type == CTRACE_EV_EXEC || type == CTRACE_EV_EXIT) &&
        noting_.load(std::memory_order_relaxed)) {
      while (!noted_.empty() && noted_bytes_ + len > kMaxNotedBytes) {
        noted_bytes_ -= noted_.front().size();
        noted_.pop_front();
        noted_dropped_.fetch_add(1, std::memory_order_relaxed);
      }
      noted_.emplace_back(reinterpret_cast<const char*>(rec), len);
      noted_bytes_ += len;
    }
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
      return true;
  }
  return false;
}

bool JsonLane::ExecKnown(const uint8_t* rec, const uint8_t* anc, size_t n_anc, json::Str filename, Writer* w) const {
  const uint8_t* task = rec + offsetof(struct ctrace_exec, task);
  const uint32_t pidns = Read<uint32_t>(task + offsetof(struct ctrace_task, pidns_ino));
  const uint64_t key = Read<uint64_t>(task + offsetof(struct ctrace_task, cgroup_key));
  w->ancestors_.resize(n_anc);
  for (size_t i = 0; i < n_anc; i++) {
    const uint8_t* a = anc + i * sizeof(struct ctrace_ancestor);
    const uint32_t pid = Read<uint32_t>(a + offsetof(struct ctrace_ancestor, tgid));
    const uint64_t start = Read<uint64_t>(a + offsetof(struct ctrace_ancestor, start_ns));
    const ExecMemory::Filename* f = memory_.FilenameOf(pid, start);
    if (f == nullptr) return false;
    rec_json::Ancestor& out = w->ancestors_[i];
    out.process_id = ProcessId(boot_id_, &w->ancestor_ids_[i], pid, start);
    out.pid = pid;
    out.comm = CString(a + offsetof(struct ctrace_ancestor, comm), CTRACE_COMM_LEN);
    out.filename = f->has_name ? StrOf(f->name) : json::Str{nullptr, nullptr};
    out.outside = Read<uint32_t>(a + offsetof(struct ctrace_ancestor, pidns_ino)) != pidns &&
                  Read<uint64_t>(a + offsetof(struct ctrace_ancestor, cgroup_key)) != key;
  }
  const ExecMemory::Binary* b = memory_.BinaryOf(Read<uint32_t>(rec + offsetof(struct ctrace_exec, exe_dev)),
                                                 Read<uint64_t>(rec + offsetof(struct ctrace_exec, exe_ino)),
                                                 Read<uint64_t>(rec + offsetof(struct ctrace_exec, exe_ctime_ns)));
  if (b == nullptr) return false;
  const uint64_t size = Read<uint64_t>(rec + offsetof(struct ctrace_exec, exe_size));
  if (size > kMaxSafe) return false;
  const uint32_t xflags = Read<uint32_t>(rec + offsetof(struct ctrace_exec, xflags));
  rec_json::Binary& out = w->binary_;
  out.memfd = (xflags & CTRACE_XF_MEMFD) != 0;
  if (b->has_host_path) {
    out.host_path = StrOf(b->host_path);
  } else if (out.memfd || !PathOnDisk(filename)) {
    out.host_path = {nullptr, nullptr};
  } else {
    // valid while the process lives: not cached, so built per exec (as binary-hash.ts does)
    w->host_path_.assign("/proc/");
    AppendUint(&w->host_path_, Read<uint32_t>(task + offsetof(struct ctrace_task, tgid)));
    w->host_path_.append("/root");
    w->host_path_.append(reinterpret_cast<const char*>(filename.p), filename.end - filename.p);
    out.host_path = StrOf(w->host_path_);
  }
  out.sha256 = b->has_sha256 ? StrOf(b->sha256) : json::Str{nullptr, nullptr};
  out.hash_error = b->has_hash_error ? StrOf(b->hash_error) : json::Str{nullptr, nullptr};
  out.size = size;
  out.upper_layer = (xflags & CTRACE_XF_UPPER) != 0;
  out.deleted = (xflags & CTRACE_XF_DELETED) != 0;
  return true;
}

// ISO-8601 UTC with nanoseconds, as src/util/clock.ts writes it, into w->time_; the date part
// once per second.
bool JsonLane::Time(uint64_t ktime_ns, Writer* w) const {
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

JsonLane::Outcome JsonLane::Format(const uint8_t* rec, size_t len, Writer* w) {
  const auto hdr = Read<struct ctrace_hdr>(rec);
  // the shapes src/decode/abi.ts decodes; anything else is JavaScript's to skip or report
  size_t min;
  const char* type;
  switch (hdr.type) {
    case CTRACE_EV_EXEC: min = offsetof(struct ctrace_exec, data) + 1; type = "exec"; break;
    // the cgroup's names, when sent, end the record: the lane never reads them
    case CTRACE_EV_EXIT: min = offsetof(struct ctrace_exit, cgroup_names); type = "exit"; break;
    case CTRACE_EV_MOUNT: min = offsetof(struct ctrace_mount, cgroup_names); type = "mount"; break;
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
  if (it->second.pidns_pending && (hdr.flags & CTRACE_F_HOST_PIDNS) == 0) {
    it->second.pidns_pending = false;
    return Outcome::kRaw;
  }
  const Cgroup& cg = it->second;
  // JavaScript falls back to /proc for a missing nspid
  const uint32_t nspid = field(offsetof(struct ctrace_task, nspid));
  if (nspid == 0 || cg.v1 != ((hdr.flags & CTRACE_F_CG_V1) != 0)) return Outcome::kRaw;
  // the end of a PID namespace: JavaScript forgets which container it was (src/classify/isolation.ts)
  if (hdr.type == CTRACE_EV_EXIT && nspid == 1 && (hdr.flags & CTRACE_F_HOST_PIDNS) == 0) return Outcome::kRaw;
  const uint64_t cgroup_id = key & ~CTRACE_CGKEY_V1;
  if (cgroup_id > kMaxSafe) return Outcome::kRaw;
  ExecData x{};
  if (hdr.type == CTRACE_EV_EXEC) {
    if (!ParseExec(rec, len, &x)) return Outcome::kRaw;
    // what only JavaScript can find out, remembered from the execs it resolved; else it resolves this one
    if (cg.emit && !ExecKnown(rec, x.ancestors, x.n_ancestors, x.filename, w)) return Outcome::kRaw;
  }
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
  // identity (src/events/identity.ts processId): boot id, start time since boot, pid; null without a start time
  rec_json::EventTail tail;
  const uint64_t start_ns = Read<uint64_t>(task + offsetof(struct ctrace_task, start_ns));
  tail.process_id = ProcessId(boot_id_, &w->process_id_, head.pid, start_ns);
  tail.parent_process_id = ProcessId(boot_id_, &w->parent_process_id_, head.ppid,
                                     Read<uint64_t>(task + offsetof(struct ctrace_task, parent_start_ns)));

  std::string* s = &w->line_;
  s->clear();
  s->append("{\"type\":\"");
  s->append(type);
  s->push_back('"');
  rec_json::WriteHead(s, head);
  s->append(cg.fragment);
  rec_json::WriteTail(s, tail);

  switch (hdr.type) {
    case CTRACE_EV_EXEC: {
      // src/events/build.ts buildEvent's exec, with src/enrich/lineage.ts's ancestors and entry
      const uint32_t xflags = Read<uint32_t>(rec + offsetof(struct ctrace_exec, xflags));
      const uint32_t argc = Read<uint32_t>(rec + offsetof(struct ctrace_exec, argc));
      rec_json::Exec e;
      e.filename = x.filename;
      SplitArgv(x.argv, x.argv_len, &w->argv_);
      e.argv = {w->argv_.data(), w->argv_.size()};
      e.argv_truncated = (hdr.flags & CTRACE_F_ARGV_TRUNC) != 0 || argc > w->argv_.size();
      e.filename_truncated = (hdr.flags & CTRACE_F_FILENAME_TRUNC) != 0;
      e.argc = argc;
      if (tail.process_id.p != nullptr) {
        w->exec_id_.assign(w->process_id_);
        w->exec_id_.push_back(':');
        AppendUint(&w->exec_id_, Read<uint32_t>(rec + offsetof(struct ctrace_exec, exec_seq)));
        e.exec_id = StrOf(w->exec_id_);
      }
      e.entry = (hdr.flags & CTRACE_F_HOST_PIDNS) == 0 && nspid != 1 && x.n_ancestors > 0 && w->ancestors_[0].outside;
      e.ancestors = {w->ancestors_.data(), x.n_ancestors};
      e.ancestors_truncated = (xflags & CTRACE_XF_ANC_MORE) != 0;
      if ((xflags & CTRACE_XF_NO_CWD) == 0) e.cwd = x.cwd;
      e.cwd_truncated = (xflags & CTRACE_XF_CWD_TRUNC) != 0;
      e.tty = CStringOrNull(rec + offsetof(struct ctrace_exec, tty), CTRACE_TTY_LEN);
      const uint32_t login = Read<uint32_t>(rec + offsetof(struct ctrace_exec, loginuid));
      const uint32_t session = Read<uint32_t>(rec + offsetof(struct ctrace_exec, sessionid));
      const bool audit = (xflags & CTRACE_XF_NO_AUDIT) == 0;
      e.login_uid = {audit && login != UINT32_MAX, login};
      e.session_id = {audit && session != UINT32_MAX, session};
      const uint64_t caps = Read<uint64_t>(rec + offsetof(struct ctrace_exec, cap_effective));
      uint8_t be[8];
      for (int i = 0; i < 8; i++) be[i] = static_cast<uint8_t>(caps >> (56 - 8 * i));
      HexLower(be, 8, w->cap_hex_);
      e.cap_effective = {reinterpret_cast<const uint8_t*>(w->cap_hex_), reinterpret_cast<const uint8_t*>(w->cap_hex_) + 16};
      w->capabilities_.clear();
      for (size_t i = 0; i < 64; i++) {
        if ((caps >> i) & 1) w->capabilities_.push_back(StrOf(capability_names_[i]));
      }
      e.capabilities = {w->capabilities_.data(), w->capabilities_.size()};
      e.user_ns = Read<uint32_t>(rec + offsetof(struct ctrace_exec, userns_ino));
      e.host_root = Read<uint32_t>(rec + offsetof(struct ctrace_exec, userns_level)) == 0 && head.uid == 0;
      e.binary = &w->binary_;
      rec_json::WriteExec(s, e);
      exec_.fetch_add(1, std::memory_order_relaxed);
      break;
    }
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
