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
#include <string>
#include <utility>
#include <vector>

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
  // A bounded first-in-first-out map in one array: open addressing with linear probing and
  // backward-shift deletion, plus a ring of keys in insertion order for eviction. The poll
  // thread puts one entry per exec and evicts one; a node-based map paid a malloc, a free and
  // scattered cache misses for each. Grows by doubling up to twice `max` slots (half full).
  template <typename V>
  class Fifo {
   public:
    explicit Fifo(size_t max) : max_(max), order_(max) {}

    V* Put(const Key& k) {
      size_t i;
      if (Lookup(k, &i)) return &slots_[i].value;
      if (count_ == max_) {
        Erase(order_[head_]);
        head_ = (head_ + 1) % max_;
        count_--;
      }
      if ((count_ + 1) * 2 > slots_.size()) Grow();
      Lookup(k, &i);  // the first free slot of k's run (Erase and Grow moved entries)
      slots_[i].used = true;
      slots_[i].key = k;
      order_[(head_ + count_) % max_] = k;
      count_++;
      return &slots_[i].value;
    }
    const V* Find(const Key& k) const {
      size_t i;
      return Lookup(k, &i) ? &slots_[i].value : nullptr;
    }
    size_t size() const { return count_; }

   private:
    struct Slot {
      bool used = false;
      Key key{};
      V value{};
    };
    // True with *i at k's slot; false with *i at the free slot that ends k's run.
    bool Lookup(const Key& k, size_t* i) const {
      if (slots_.empty()) return false;
      const size_t mask = slots_.size() - 1;
      for (size_t j = KeyHash{}(k) & mask;; j = (j + 1) & mask) {
        if (!slots_[j].used) {
          *i = j;
          return false;
        }
        if (slots_[j].key == k) {
          *i = j;
          return true;
        }
      }
    }
    void Erase(const Key& k) {
      size_t i;
      if (!Lookup(k, &i)) return;
      const size_t mask = slots_.size() - 1;
      // pull back each later entry of the run that may live at i (its home is not in (i, j])
      for (size_t j = (i + 1) & mask; slots_[j].used; j = (j + 1) & mask) {
        const size_t home = KeyHash{}(slots_[j].key) & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
          slots_[i].key = slots_[j].key;
          slots_[i].value = std::move(slots_[j].value);
          i = j;
        }
      }
      slots_[i].used = false;
      slots_[i].value = V{};
    }
    void Grow() {
      std::vector<Slot> old = std::move(slots_);
      slots_ = std::vector<Slot>(old.empty() ? 64 : old.size() * 2);
      for (Slot& s : old) {
        if (!s.used) continue;
        size_t i;
        Lookup(s.key, &i);
        slots_[i].used = true;
        slots_[i].key = s.key;
        slots_[i].value = std::move(s.value);
      }
    }

    size_t max_;
    std::vector<Slot> slots_;
    std::vector<Key> order_;  // a ring: order_[head_] is the oldest of count_ keys
    size_t head_ = 0, count_ = 0;
  };

  Fifo<Filename> filenames_{kMaxFilenames};
  Fifo<Binary> binaries_{kMaxBinaries};
};

}  // namespace ctrace

#endif  // CTRACE_NATIVE_EXEC_MEMORY_H
