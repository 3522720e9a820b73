// class LogWriter: a JSONL audit log's records sealed and written off the JavaScript thread.
// JavaScript (src/audit/log-file.ts) keeps the log's files: it opens them, fsyncs them on its
// timer, rotates them and reports failures. While it has a LogWriter, the writer holds the
// log's chain (seq and the last hash) and is the one writer of the current file's bytes:
//  - the poll thread seals the lane's lines (TakeLines) when JavaScript would only have sealed
//    and written them: it never waits for the disk, and JavaScript is not woken for them;
//  - JavaScript seals its own records (SealRecord: start, stop, lost, rotate, continuation,
//    events of the object path) and the lines it was handed (SealLines) here too, under the same
//    lock, so the chain and the file hold one order: the order of sealing.
// The writer thread writes what was sealed, collected for up to hold_ms; it never drops a record.
// A failed or short write truncates the file to its last complete record and stops the writer
// for good (err in State); JavaScript then ends the log there, as it does for its own writes.
// A file switch is a marker in the queue: the writer stops at it, JavaScript closes, renames and
// opens, then Resume()s the writer on the new file with what was sealed since.
#ifndef CTRACE_NATIVE_LOG_WRITER_H
#define CTRACE_NATIVE_LOG_WRITER_H

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "chain_seal.h"

namespace ctrace {

class LogWriter {
 public:
  struct Options {
    int fd = -1;             // the current file, open for appending; the caller keeps it open
    uint64_t file_size = 0;  // its bytes now (all complete records)
    uint64_t records_in_file = 0;  // records of this run in it (a full file rotates at more than one)
    uint64_t seq = 0;        // the chain: seq of the next record
    char head[64] = {};      // and the last record's hash, hex
    uint64_t max_size = 0;   // a file is full at this many bytes; 0 = never
    bool fsync_always = false;  // fsync after every write (--log-fsync always)
    uint32_t hold_ms = 200;     // what is sealed waits up to this long to be written with what follows
  };
  explicit LogWriter(const Options& o);
  ~LogWriter();
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  // Starts the writer thread; 0 or a positive errno.
  int Start();

  // Poll thread: seals every line of a lane batch's lines chunks and queues them, or takes none
  // (false) when the log is not taking lines (failed, closed, a file switch pending) or they
  // would fill the current file: JavaScript then seals them one by one, and rotates after the
  // very line that fills the file.
  bool TakeLines(const std::vector<uint8_t>& lane_batch);

  // JavaScript; what it seals is written at its next Flush(). 0; EINVAL: not the lane's lines / not a JSON object; the log's errno once it
  // failed; ESHUTDOWN once closed. Nothing is sealed unless 0.
  int SealLines(const uint8_t* lines, size_t n, SealCounts* counts);
  int SealRecord(const uint8_t* body, size_t n, bool head_record);
  // What is sealed from now on goes to the next file (the current one is full, or was moved).
  void SwitchFile();
  // The writer is past everything before the oldest pending switch and waits for Resume().
  bool AtSwitch() const;
  // Continue on the next file: fd, with size_on_disk bytes in it already.
  void Resume(int fd, uint64_t size_on_disk);
  // Write what is collected now, without waiting for kHold.
  void Flush();
  // Writes what is queued (unless failed or at a switch), then stops the writer. Idempotent.
  void Close();

  struct State {
    uint64_t seq = 0;
    char head[64] = {};
    uint64_t records = 0;        // sealed here, all of them
    SealCounts taken;            // events of the lines the poll thread took
    uint64_t file_size = 0;      // the current file's bytes once everything queued is written
    uint64_t queued_bytes = 0;
    uint64_t written_bytes = 0;  // over all files
    uint64_t writes = 0;
    uint64_t syncs = 0;          // fsyncs of fsync_always
    bool full = false;           // the current file reached max_size (and holds more than one record)
    bool idle = false;           // nothing queued, nothing being written
    int err = 0;                 // the log failed: a write (or fsync) with this errno
    int truncate_err = 0;        // and cutting its partial record off failed with this one
  };
  State state() const;

 private:
  struct Item {
    std::vector<uint8_t> bytes;
    uint64_t since_ns = 0;
    bool marker = false;  // a file switch
  };
  // The item new records are appended to (never the one being written, never a marker).
  std::vector<uint8_t>& Tail(size_t need);
  // `wake`: the poll thread's records wake the writer (to start its hold); JavaScript's wait for
  // its Flush() at the end of its tick, so that what one tick seals goes out with one write.
  void Sealed(size_t bytes, uint64_t records, bool wake);
  bool Urgent() const;
  void Run();
  // Writes all of b to fd; 0, or errno with *off the bytes written.
  static int WriteAll(int fd, const std::vector<uint8_t>& b, size_t* off, uint64_t* writes);

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  std::vector<std::vector<uint8_t>> spare_;  // written items' memory, reused (pages already touched)
  size_t queued_ = 0;
  size_t markers_ = 0;
  int fd_ = -1;  // -1 while the writer waits at a switch
  uint64_t durable_ = 0;  // the current file's bytes on disk after the last complete write
  uint64_t file_size_ = 0;
  uint64_t records_in_file_ = 0;
  uint64_t max_size_ = 0;
  bool fsync_always_ = false;
  uint64_t hold_ns_ = 0;
  uint64_t seq_ = 0;
  char head_[64] = {};
  bool writing_ = false;
  bool at_switch_ = false;
  bool flush_ = false;
  bool stop_ = false;
  bool started_ = false;
  State counts_;  // records, taken, written_bytes, writes, syncs, err, truncate_err
  std::thread thread_;
};

}  // namespace ctrace

#endif  // CTRACE_NATIVE_LOG_WRITER_H
