// What the JSON lane needs to write an exec's line that only userland can find out: the
// binary of each ancestor (by pid and start time) and the exec'd binary's hash and host path
// (by device, inode and change time). "JavaScript resolves, the addon remembers": the poll
// thread records the filename of every exec record it reads (kernel data, in ring order), and
// JavaScript, after it resolved an exec that went to it raw (src/tracer/tracer.ts enrichExec), tells
// what it found, so the next exec with the same ancestors and binary takes the lane. A miss
// only sends the record to JavaScript: no line depends on what is not here.
//
// Both are bounded, first in first out (an update keeps an entry's place): kMaxFilenames
// processes (an exec storm's shells and runtimes are a handful; the rest are the short-lived
// processes themselves), kMaxBinaries binaries (src/enrich/binary-hash.ts keeps as many).
// The caller locks (JsonLane' mutex).
#ifndef CTRACE_NATIVE_EXEC_MEMORY_H
#define CTRACE_NATIVE_EXEC_MEMORY_H

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>

namespace ctrace {

class ExecMemory {
 public:
  static constexpr size_t kMaxFilenames = 16384;
  static constexpr size_t kMaxBinaries = 4096;

  // A process's binary as it named it at its exec; has_name false: looked for, not found (null).
  struct Filename {
    bool has_name = false;
    bool from_exec = false;  // from an exec record: what JavaScript looked up never replaces it
    std::string name;
  };
  // What src/enrich/binary-hash.ts caches for a binary; has_* false: null.
  struct Binary {
    bool has_host_path = false, has_sha256 = false, has_hash_error = false;
    std::string host_path, sha256, hash_error;
  };

  // Poll thread: an exec record's own binary.
  void ExecSeen(uint32_t pid, uint64_t start_ns, const uint8_t* name, size_t n);
  // JavaScript's lookup of an ancestor's binary (null: known false); kept unless an exec said.
  void FilenameFound(uint32_t pid, uint64_t start_ns, bool known, std::string name);
  void BinaryFound(uint32_t dev, uint64_t ino, uint64_t ctime_ns, Binary b);

  const Filename* FilenameOf(uint32_t pid, uint64_t start_ns) const;
  const Binary* BinaryOf(uint32_t dev, uint64_t ino, uint64_t ctime_ns) const;

  size_t filenames() const { return filenames_.size(); }
  size_t binaries() const { return binaries_.size(); }

 private:
  struct Key {
    uint64_t a, b, c;
    bool operator==(const Key& o) const { return a == o.a && b == o.b && c == o.c; }
  };
  struct KeyHash {
    size_t operator()(const Key& k) const {
      uint64_t h = k.a * 0x9e3779b97f4a7c15ull ^ k.b * 0xc2b2ae3d27d4eb4full ^ k.c * 0x165667b19e3779f9ull;
      return static_cast<size_t>(h ^ (h >> 29));
    }
  };
  template <typename V>
  struct Fifo {
    std::unordered_map<Key, V, KeyHash> map;
    std::deque<Key> order;
    V* Put(const Key& k, size_t max) {
      auto [it, fresh] = map.try_emplace(k);
      if (fresh) {
        order.push_back(k);
        if (order.size() > max) {
          map.erase(order.front());
          order.pop_front();
        }
      }
      return &it->second;
    }
    const V* Find(const Key& k) const {
      const auto it = map.find(k);
      return it == map.end() ? nullptr : &it->second;
    }
    size_t size() const { return map.size(); }
  };

  Fifo<Filename> filenames_;
  Fifo<Binary> binaries_;
};

}  // namespace ctrace

#endif  // CTRACE_NATIVE_EXEC_MEMORY_H
