#include "out_queue.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <system_error>

#include "json_lane.h"

namespace ctrace {

namespace {

constexpr int kPollMs = 100;               // how often a writer waiting on a full pipe looks at stop_
constexpr size_t kCoalesceBytes = 256u << 10;  // small pushes share a buffer up to this size
constexpr auto kFileHold = std::chrono::milliseconds(50);  // a regular file's writes: see out_queue.h

}  // namespace

OutQueue::~OutQueue() { Close(); }

int OutQueue::Open(int fd, size_t max_bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (open_ || fd < 0) return 0;
  max_bytes_ = max_bytes > 0 ? max_bytes : kDefaultMaxBytes;
  fd_ = fd;
  struct stat st;
  if (fstat(fd, &st) == 0) {
    if (S_ISREG(st.st_mode)) {
      hold_ = true;
    } else if (S_ISSOCK(st.st_mode)) {
      socket_ = true;
      nonblocking_ = true;
    } else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
      // A description of our own, so O_NONBLOCK does not change the shell's (or Node's) view of fd.
      char path[64];
      snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
      own_fd_ = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
      if (own_fd_ >= 0) {
        fd_ = own_fd_;
        nonblocking_ = true;
      } else {
        const int flags = fcntl(fd, F_GETFL);
        nonblocking_ = flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
      }
    }
  }
  try {
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "ctrace-out");
      Run();
    });
  } catch (const std::system_error& e) {
    if (own_fd_ >= 0) close(own_fd_);
    own_fd_ = -1;
    fd_ = -1;
    return e.code().value() ? e.code().value() : EAGAIN;
  }
  open_ = true;
  return 0;
}

bool OutQueue::HasOutput() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return open_ && !stop_;
}

uint64_t OutQueue::Lines(const void* p, size_t n) {
  uint64_t lines = 0;
  const auto* b = static_cast<const uint8_t*>(p);
  const auto* end = b + n;
  while (b < end) {
    const void* nl = memchr(b, '\n', static_cast<size_t>(end - b));
    if (nl == nullptr) break;
    lines++;
    b = static_cast<const uint8_t*>(nl) + 1;
  }
  return lines;
}

int OutQueue::Push(const void* p, size_t n) {
  if (n == 0) return 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (counts_.err != 0) return counts_.err;
    if (!open_ || stop_) return EBADF;
    const auto* b = static_cast<const uint8_t*>(p);
    if (queue_.empty() && nonblocking_) {
      // The writer is idle (it holds no buffer while the queue is empty) and waits on this lock.
      const ssize_t w = WriteNow(b, n);
      if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        counts_.err = errno;
        return counts_.err;
      }
      if (w > 0) {
        counts_.writes++;
        counts_.written_bytes += static_cast<uint64_t>(w);
        b += w;
        n -= static_cast<size_t>(w);
        if (n == 0) return 0;
      }
    }
    if (queued_ + n > max_bytes_) {
      counts_.dropped_lines += Lines(b, n);
      counts_.dropped_bytes += n;
      return 0;
    }
    const bool was_empty = queue_.empty();
    // never into the buffer the writer is writing
    if (queue_.size() > (writing_ ? 1u : 0u) && queue_.back().size() + n <= kCoalesceBytes) {
      queue_.back().insert(queue_.back().end(), b, b + n);
    } else {
      queue_.emplace_back(b, b + n);
    }
    queued_ += n;
    // a file's writer is collecting: it needs waking only to start, or to write a full hold
    if (hold_ && !was_empty && (queued_ < kCoalesceBytes || queued_ - n >= kCoalesceBytes)) return 0;
  }
  cv_.notify_one();
  return 0;
}

int OutQueue::PushLines(const std::vector<uint8_t>& batch) {
  return JsonLane::ForEachLines(batch, [this](const uint8_t* p, size_t n) { return Push(p, n); });
}

void OutQueue::Run() {
  size_t due = 0;  // buffers that have had their hold: written without another
  for (;;) {
    std::vector<uint8_t>* front = nullptr;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (hold_ && due == 0) {
        cv_.wait_for(lock, kFileHold, [this] { return stop_ || queued_ >= kCoalesceBytes; });
        due = queue_.size();
      }
      if (stop_) return;
      front = &queue_.front();  // stays put: Push leaves it alone while writing_, Close() waits for us
      writing_ = true;
    }
    uint64_t writes = 0;
    const bool ok = WriteAll(*front, &writes);
    std::lock_guard<std::mutex> lock(mutex_);
    writing_ = false;
    counts_.writes += writes;
    if (!ok) return;
    counts_.written_bytes += front->size();
    queued_ -= front->size();
    queue_.pop_front();
    if (due > 0) due--;
  }
}

ssize_t OutQueue::WriteNow(const uint8_t* b, size_t n) const {
  return socket_ ? send(fd_, b, n, MSG_DONTWAIT | MSG_NOSIGNAL) : write(fd_, b, n);
}

bool OutQueue::WriteAll(const std::vector<uint8_t>& buf, uint64_t* writes) {
  const uint8_t* b = buf.data();
  size_t n = buf.size();
  while (n > 0) {
    const ssize_t w = WriteNow(b, n);
    if (w > 0) {
      (*writes)++;
      b += w;
      n -= static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stop_) return false;
      }
      struct pollfd pfd = {fd_, POLLOUT, 0};
      if (poll(&pfd, 1, kPollMs) >= 0 || errno == EINTR) continue;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    counts_.err = w < 0 ? errno : EIO;
    return false;
  }
  return true;
}

void OutQueue::Close() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& buf : queue_) counts_.undelivered_lines += Lines(buf.data(), buf.size());
  queue_.clear();
  queued_ = 0;
  if (own_fd_ >= 0) close(own_fd_);
  own_fd_ = -1;
}

OutQueue::Counts OutQueue::counts() const {
  std::lock_guard<std::mutex> lock(mutex_);
  Counts c = counts_;
  c.queued_bytes = queued_;
  return c;
}

}  // namespace ctrace
