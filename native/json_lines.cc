#include "json_lines.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cstddef>

#include "text.h"

namespace ctrace {

namespace {

// Integers JavaScript prints exactly (Number(bigint) beyond this rounds).
constexpr uint64_t kMaxSafe = 9007199254740992ull;  // 2^53

template <typename T>
T Read(const uint8_t* p) {
  T v;
  memcpy(&v, p, sizeof(v));
  return v;
}

void PutHex2(std::string* s, uint8_t b) {
  char hex[2];
  HexLower(&b, 1, hex);
  s->append(hex, 2);
}

// Length of the valid UTF-8 sequence at p, or 0: src/bytes.ts utf8SeqLen, the same rules
// (no overlongs, no surrogates, nothing above U+10FFFF).
size_t Utf8SeqLen(const uint8_t* p, const uint8_t* end) {
  const uint8_t b0 = p[0];
  size_t n;
  uint8_t lo = 0x80, hi = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    n = 2;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    n = 3;
    if (b0 == 0xe0) lo = 0xa0;
    if (b0 == 0xed) hi = 0x9f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    n = 4;
    if (b0 == 0xf0) lo = 0x90;
    if (b0 == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (static_cast<size_t>(end - p) < n) return 0;
  if (p[1] < lo || p[1] > hi) return 0;
  for (size_t k = 2; k < n; k++) {
    if (p[k] < 0x80 || p[k] > 0xbf) return 0;
  }
  return n;
}

// The bytes as src/bytes.ts decodes them (an invalid UTF-8 byte 0xNN becomes the lone
// surrogate U+DCNN), as JSON.stringify quotes that text (a lone surrogate as \udcNN): \" \\ \b \t \n \f \r, \u00xx for other controls.
void PutString(std::string* s, const uint8_t* p, const uint8_t* end) {
  s->push_back('"');
  const uint8_t* run = p;
  while (p < end) {
    const uint8_t b = *p;
    if (b >= 0x20 && b < 0x80 && b != '"' && b != '\\') {
      p++;
      continue;
    }
    size_t n = 0;
    if (b >= 0x80 && (n = Utf8SeqLen(p, end)) > 0) {
      p += n;
      continue;
    }
    s->append(reinterpret_cast<const char*>(run), p - run);
    switch (b) {
      case '"': s->append("\\\""); break;
      case '\\': s->append("\\\\"); break;
      case '\b': s->append("\\b"); break;
      case '\t': s->append("\\t"); break;
      case '\n': s->append("\\n"); break;
      case '\f': s->append("\\f"); break;
      case '\r': s->append("\\r"); break;
      default:
        if (b >= 0x80) {
          s->append("\\udc");  // U+DCNN
        } else {
          s->append("\\u00");
        }
        PutHex2(s, b);
    }
    p++;
    run = p;
  }
  s->append(reinterpret_cast<const char*>(run), end - run);
  s->push_back('"');
}

// A NUL-terminated string in a fixed field (src/bytes.ts decodeCString).
const uint8_t* CEnd(const uint8_t* p, size_t max) {
  const void* z = memchr(p, 0, max);
  return z != nullptr ? static_cast<const uint8_t*>(z) : p + max;
}

void PutCString(std::string* s, const uint8_t* p, size_t max) { PutString(s, p, CEnd(p, max)); }

// `null` for an empty field (the JSON form says null for absent data).
void PutCStringOrNull(std::string* s, const uint8_t* p, size_t max) {
  const uint8_t* end = CEnd(p, max);
  if (end == p) {
    s->append("null");
  } else {
    PutString(s, p, end);
  }
}

const char* Bool(bool b) { return b ? "true" : "false"; }

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

void JsonLines::SetOutput(int fd) {
  std::lock_guard<std::mutex> lock(out_mutex_);
  out_errno_ = 0;
  out_fd_.store(fd, std::memory_order_release);
}

int JsonLines::Write(const void* p, size_t n) {
  std::lock_guard<std::mutex> lock(out_mutex_);
  const int fd = out_fd_.load(std::memory_order_acquire);
  if (fd < 0) return EBADF;
  if (out_errno_ != 0) return out_errno_;
  const auto* b = static_cast<const uint8_t*>(p);
  while (n > 0) {
    const ssize_t w = write(fd, b, n);
    if (w > 0) {
      b += w;
      n -= static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // a non-blocking fd (Node makes some so): wait until the reader takes some
      struct pollfd pfd = {fd, POLLOUT, 0};
      if (poll(&pfd, 1, -1) >= 0 || errno == EINTR) continue;
    }
    out_errno_ = w < 0 ? errno : EIO;
    return out_errno_;
  }
  return 0;
}

int JsonLines::WriteLines(const std::vector<uint8_t>& batch) {
  size_t o = 0;
  while (o + kChunkHeader <= batch.size()) {
    uint32_t header[2];
    memcpy(header, batch.data() + o, sizeof(header));
    o += kChunkHeader;
    if (header[0] == kChunkLines) {
      if (const int err = Write(batch.data() + o, header[1]); err != 0) return err;
    }
    o += header[1];
  }
  return 0;
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

// ISO-8601 UTC with nanoseconds, as src/clock.ts writes it; the date part once per second.
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
    const int n = snprintf(w->date_, sizeof(w->date_), "%04d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900,
                           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (n != 20) return false;
    w->date_len_ = 20;
    w->second_ = sec;
  }
  std::string* s = &w->line_;
  s->append(w->date_, w->date_len_);
  char digits[9];
  int64_t f = frac;
  for (int i = 8; i >= 0; i--) {
    digits[i] = static_cast<char>('0' + f % 10);
    f /= 10;
  }
  s->append(digits, 9);
  s->push_back('Z');
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

  std::string* s = &w->line_;
  s->clear();
  s->append("{\"type\":\"");
  s->append(type);
  s->append("\",\"time\":\"");
  if (!Time(hdr.ktime_ns, w)) return Outcome::kRaw;
  s->append("\",\"pid\":");
  AppendUint(s, field(offsetof(struct ctrace_task, tgid)));
  s->append(",\"tid\":");
  AppendUint(s, field(offsetof(struct ctrace_task, pid)));
  s->append(",\"ppid\":");
  AppendUint(s, field(offsetof(struct ctrace_task, ppid)));
  s->append(",\"nspid\":");
  AppendUint(s, nspid);
  s->append(",\"uid\":");
  AppendUint(s, field(offsetof(struct ctrace_task, uid)));
  s->append(",\"gid\":");
  AppendUint(s, field(offsetof(struct ctrace_task, gid)));
  s->append(",\"comm\":");
  PutCString(s, task + offsetof(struct ctrace_task, comm), CTRACE_COMM_LEN);
  s->append(",\"cgroupId\":");
  AppendUint(s, cgroup_id);
  s->append(",\"pidNs\":");
  AppendUint(s, field(offsetof(struct ctrace_task, pidns_ino)));
  s->append(",\"mntNs\":");
  AppendUint(s, field(offsetof(struct ctrace_task, mntns_ino)));
  s->append(cg.fragment);
  // identity (src/identity.ts processId): boot id, start time since boot, pid; null without a start time
  auto put_process_id = [&](uint32_t pid, uint64_t start) {
    if (pid == 0 || start == 0) {
      s->append("null");
      return;
    }
    s->push_back('"');
    s->append(boot_id_);
    s->push_back(':');
    AppendUint(s, start);
    s->push_back(':');
    AppendUint(s, pid);
    s->push_back('"');
  };
  s->append(",\"processId\":");
  put_process_id(field(offsetof(struct ctrace_task, tgid)), Read<uint64_t>(task + offsetof(struct ctrace_task, start_ns)));
  s->append(",\"parentProcessId\":");
  put_process_id(field(offsetof(struct ctrace_task, ppid)), Read<uint64_t>(task + offsetof(struct ctrace_task, parent_start_ns)));

  switch (hdr.type) {
    case CTRACE_EV_EXIT: {
      const uint32_t status = Read<uint32_t>(rec + offsetof(struct ctrace_exit, exit_code));
      const uint64_t start = Read<uint64_t>(rec + offsetof(struct ctrace_exit, start_ns));
      const uint64_t duration = start > 0 && hdr.ktime_ns > start ? hdr.ktime_ns - start : 0;
      if (duration > kMaxSafe) return Outcome::kRaw;
      const uint32_t signal = status & 0x7f;
      s->append(",\"exit\":{\"code\":");
      AppendUint(s, signal != 0 ? 0 : (status >> 8) & 0xff);
      s->append(",\"signal\":");
      AppendUint(s, signal);
      s->append(",\"coreDumped\":");
      s->append(Bool((status & 0x80) != 0));
      s->append(",\"durationNs\":");
      AppendUint(s, duration);
      s->append("}}\n");
      exit_.fetch_add(1, std::memory_order_relaxed);
      break;
    }
    case CTRACE_EV_MOUNT: {
      const int64_t ret = Read<int64_t>(rec + offsetof(struct ctrace_mount, ret));
      const uint64_t flags = Read<uint64_t>(rec + offsetof(struct ctrace_mount, flags));
      if (flags > kMaxSafe || ret > static_cast<int64_t>(kMaxSafe) || ret < -static_cast<int64_t>(kMaxSafe))
        return Outcome::kRaw;
      const uint32_t op = Read<uint32_t>(rec + offsetof(struct ctrace_mount, op));
      s->append(",\"mount\":{\"op\":\"");
      s->append(op == CTRACE_MOUNT_OP_MOVE_MOUNT ? "move_mount" : "mount");
      s->append("\",\"source\":");
      PutCStringOrNull(s, rec + offsetof(struct ctrace_mount, source), CTRACE_PATH_LEN);
      s->append(",\"target\":");
      PutCStringOrNull(s, rec + offsetof(struct ctrace_mount, target), CTRACE_PATH_LEN);
      s->append(",\"fstype\":");
      PutCStringOrNull(s, rec + offsetof(struct ctrace_mount, fstype), CTRACE_FSTYPE_LEN);
      s->append(",\"flags\":");
      AppendUint(s, flags);
      s->append(",\"ret\":");
      AppendInt(s, ret);
      const uint32_t mf = Read<uint32_t>(rec + offsetof(struct ctrace_mount, mflags));
      s->append(",\"sourceTruncated\":");
      s->append(Bool((mf & CTRACE_MF_SOURCE_TRUNC) != 0));
      s->append(",\"targetTruncated\":");
      s->append(Bool((mf & CTRACE_MF_TARGET_TRUNC) != 0));
      s->append(",\"fstypeTruncated\":");
      s->append(Bool((mf & CTRACE_MF_FSTYPE_TRUNC) != 0));
      s->append(",\"argsChanged\":");
      s->append(Bool((mf & CTRACE_MF_ARGS_CHANGED) != 0));
      s->append(",\"argsUnverified\":");
      s->append(Bool((mf & CTRACE_MF_ARGS_UNVERIFIED) != 0));
      s->append(",\"kernelView\":");
      s->append(Bool((mf & CTRACE_MF_KERNEL_VIEW) != 0));
      s->append("}}\n");
      mount_.fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }

  return Outcome::kLine;
}

}  // namespace ctrace
