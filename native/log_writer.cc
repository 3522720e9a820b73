#include "log_writer.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <system_error>

#include "json_lane.h"

namespace ctrace {

namespace {

constexpr size_t kCoalesceBytes = 1u << 20;  // an item holds up to this much (one write)
constexpr size_t kSpares = 2;

uint64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

LogWriter::LogWriter(const Options& o)
    : fd_(o.fd), durable_(o.file_size), file_size_(o.file_size), max_size_(o.max_size), fsync_always_(o.fsync_always),
      hold_ns_(static_cast<uint64_t>(o.hold_ms) * 1000000u), seq_(o.seq) {
  memcpy(head_, o.head, sizeof(head_));
  records_in_file_ = o.records_in_file;
}

LogWriter::~LogWriter() { Close(); }

int LogWriter::Start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (started_) return 0;
  try {
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "ctrace-log");
      Run();
    });
  } catch (const std::system_error& e) {
    return e.code().value() ? e.code().value() : EAGAIN;
  }
  started_ = true;
  return 0;
}

std::vector<uint8_t>& LogWriter::Tail(size_t need) {
  // never the front item while the writer writes it, never a marker
  if (!queue_.empty() && !queue_.back().marker && !(writing_ && queue_.size() == 1) &&
      queue_.back().bytes.size() + need <= kCoalesceBytes)
    return queue_.back().bytes;
  Item item;
  if (!spare_.empty()) {
    item.bytes.swap(spare_.back());
    spare_.pop_back();
  }
  item.since_ns = NowNs();
  queue_.push_back(std::move(item));
  return queue_.back().bytes;
}

void LogWriter::Sealed(size_t bytes, uint64_t records, bool wake) {
  wake = wake && (queued_ == 0 || (queued_ < kCoalesceBytes && queued_ + bytes >= kCoalesceBytes));
  queued_ += bytes;
  file_size_ += bytes;
  records_in_file_ += records;
  counts_.records += records;
  // the writer sleeps until something is queued, then collects for hold_ms: it needs waking only
  // to start, or to write a full item at once
  if (wake) cv_.notify_one();
}

bool LogWriter::TakeLines(const std::vector<uint8_t>& batch) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stop_ || counts_.err != 0 || markers_ > 0 || at_switch_) return false;
  if (max_size_ > 0 && file_size_ >= max_size_ && records_in_file_ > 1) return false;
  size_t total = 0;
  uint64_t lines = 0;
  uint64_t seq = seq_;
  const int bad = JsonLane::ForEachLines(batch, [&](const uint8_t* p, size_t n) {
    uint64_t count = 0;
    const size_t size = ChainSeal::SealedSize(p, n, seq, &count);
    if (size == 0 && n != 0) return 1;
    total += size;
    lines += count;
    seq += count;
    return 0;
  });
  if (bad != 0 || lines == 0) return false;
  // the file rotates after the very line that fills it: JavaScript seals those one by one
  if (max_size_ > 0 && file_size_ + total >= max_size_) return false;
  std::vector<uint8_t>& out = Tail(total);
  const size_t at = out.size();
  out.resize(at + total);
  uint8_t* p = out.data() + at;
  uint64_t seq_before = seq_;
  char head_before[64];
  memcpy(head_before, head_, sizeof(head_));
  SealCounts counts;
  const int failed = JsonLane::ForEachLines(batch, [&](const uint8_t* lp, size_t n) {
    const size_t size = ChainSeal::SealedSize(lp, n, seq_);
    if (!ChainSeal::SealInto(lp, n, &seq_, head_, p, &counts)) return 1;
    p += size;
    return 0;
  });
  if (failed != 0) {  // OpenSSL: leave it all to JavaScript, whose seal reports it
    out.resize(at);
    seq_ = seq_before;
    memcpy(head_, head_before, sizeof(head_));
    if (out.empty() && queue_.size() > 0 && &queue_.back().bytes == &out) queue_.pop_back();
    return false;
  }
  counts_.taken.exec += counts.exec;
  counts_.taken.exit += counts.exit;
  counts_.taken.mount += counts.mount;
  Sealed(total, lines, true);
  return true;
}

int LogWriter::SealLines(const uint8_t* lines, size_t n, SealCounts* counts) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (counts_.err != 0) return counts_.err;
  if (stop_) return ESHUTDOWN;
  uint64_t count = 0;
  const size_t size = ChainSeal::SealedSize(lines, n, seq_, &count);
  if (size == 0) return n == 0 ? 0 : EINVAL;
  std::vector<uint8_t>& out = Tail(size);
  const size_t at = out.size();
  out.resize(at + size);
  const uint64_t seq_before = seq_;
  char head_before[64];
  memcpy(head_before, head_, sizeof(head_));
  if (!ChainSeal::SealInto(lines, n, &seq_, head_, out.data() + at, counts)) {
    out.resize(at);
    seq_ = seq_before;
    memcpy(head_, head_before, sizeof(head_));
    return EIO;
  }
  Sealed(size, count, false);
  return 0;
}

int LogWriter::SealRecord(const uint8_t* body, size_t n, bool head_record) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (counts_.err != 0) return counts_.err;
  if (stop_) return ESHUTDOWN;
  std::vector<uint8_t>& out = Tail(n + 256);
  const size_t at = out.size();
  if (!ChainSeal::SealRecord(body, n, head_record, &seq_, head_, &out)) return n >= 2 && body[0] == '{' ? EIO : EINVAL;
  Sealed(out.size() - at, 1, false);
  return 0;
}

void LogWriter::SwitchFile() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    Item item;
    item.marker = true;
    queue_.push_back(std::move(item));
    markers_++;
    file_size_ = 0;
    records_in_file_ = 0;
  }
  cv_.notify_one();
}

bool LogWriter::AtSwitch() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return at_switch_;
}

void LogWriter::Resume(int fd, uint64_t size_on_disk) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    fd_ = fd;
    durable_ = size_on_disk;
    // what was sealed for the new file since the switch is counted already: add what it holds
    file_size_ += size_on_disk;
    at_switch_ = false;
  }
  cv_.notify_one();
}

void LogWriter::Flush() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (queue_.empty()) return;
    flush_ = true;
  }
  cv_.notify_one();
}

void LogWriter::Close() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

LogWriter::State LogWriter::state() const {
  std::lock_guard<std::mutex> lock(mutex_);
  State s = counts_;
  s.seq = seq_;
  memcpy(s.head, head_, sizeof(head_));
  s.file_size = file_size_;
  s.queued_bytes = queued_;
  s.full = max_size_ > 0 && file_size_ >= max_size_ && records_in_file_ > 1;
  s.idle = queue_.empty() && !writing_;
  return s;
}

bool LogWriter::Urgent() const {
  return stop_ || flush_ || markers_ > 0 || queued_ >= kCoalesceBytes;
}

void LogWriter::Run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || (fd_ >= 0 && !queue_.empty()); });
    if (fd_ < 0 || queue_.empty()) return;  // stopping, at a switch or with nothing left
    Item& front = queue_.front();
    if (front.marker) {
      queue_.pop_front();
      markers_--;
      fd_ = -1;
      at_switch_ = true;
      continue;
    }
    if (!Urgent()) {
      const uint64_t now = NowNs();
      if (now < front.since_ns + hold_ns_) {
        cv_.wait_for(lock, std::chrono::nanoseconds(front.since_ns + hold_ns_ - now), [this] { return Urgent(); });
        continue;  // the front may have changed (never: only Tail appends), and stop_ may be set
      }
    }
    writing_ = true;
    const int fd = fd_;
    lock.unlock();
    size_t off = 0;
    uint64_t writes = 0;
    int err = WriteAll(fd, front.bytes, &off, &writes);
    bool synced = false;
    if (err == 0 && fsync_always_) {
      if (fsync(fd) != 0) err = errno;
      synced = err == 0;
    }
    int truncate_err = 0;
    uint64_t keep = off;
    if (err != 0 && off < front.bytes.size()) {
      // keep the complete records this write got onto disk, drop the partial one
      const void* nl = off > 0 ? memrchr(front.bytes.data(), '\n', off) : nullptr;
      keep = nl != nullptr ? static_cast<size_t>(static_cast<const uint8_t*>(nl) - front.bytes.data()) + 1 : 0;
      if (keep < off && ftruncate(fd, static_cast<off_t>(durable_ + keep)) != 0) truncate_err = errno;
    }
    lock.lock();
    writing_ = false;
    counts_.writes += writes;
    counts_.written_bytes += keep;
    durable_ += keep;
    if (synced) counts_.syncs++;
    if (err != 0) {
      counts_.err = err;
      counts_.truncate_err = truncate_err;
      queued_ = 0;
      queue_.clear();
      return;
    }
    queued_ -= front.bytes.size();
    front.bytes.clear();
    if (spare_.size() < kSpares) spare_.push_back(std::move(front.bytes));
    queue_.pop_front();
    if (queue_.empty()) flush_ = false;
  }
}

int LogWriter::WriteAll(int fd, const std::vector<uint8_t>& b, size_t* off, uint64_t* writes) {
  while (*off < b.size()) {
    const ssize_t w = write(fd, b.data() + *off, b.size() - *off);
    if (w > 0) {
      (*writes)++;
      *off += static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    return w < 0 ? errno : EIO;
  }
  return 0;
}

}  // namespace ctrace
