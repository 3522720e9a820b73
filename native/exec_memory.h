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
  // A bounded first-in-first-out map. The entries live in a ring in insertion order, filled
  // once and then reused oldest first, so their memory is touched once in the process's life:
  // a table that grew by doubling touched twice its final size again, a page fault per page
  // (on a VM, each a trap to the host) in a new tracer's first container storms, and a
  // node-based map paid a malloc, a free and scattered cache misses per entry. The index is
  // open addressing with linear probing and backward-shift deletion over (entry, hash) pairs,
  // at most half full, allocated whole at construction (8 bytes a slot).
  template <typename V>
  class Fifo {
   public:
    explicit Fifo(size_t max) : max_(max), index_(TableSize(max), Slot{kEmpty, 0}) { ring_.reserve(max); }

    V* Put(const Key& k) {
      const uint32_t h = Hash(k);
      size_t i;
      if (Lookup(k, h, &i)) return &ring_[index_[i].entry].value;
      uint32_t e;
      if (ring_.size() < max_) {
        e = static_cast<uint32_t>(ring_.size());
        ring_.emplace_back();
      } else {
        e = static_cast<uint32_t>(oldest_);
        Erase(ring_[e].key);
        oldest_ = (oldest_ + 1) % max_;
        ring_[e].value = V{};
        Lookup(k, h, &i);  // the free slot that ends k's run (Erase moved entries)
      }
      ring_[e].key = k;
      index_[i] = Slot{e, h};
      return &ring_[e].value;
    }
    const V* Find(const Key& k) const {
      size_t i;
      return Lookup(k, Hash(k), &i) ? &ring_[index_[i].entry].value : nullptr;
    }
    size_t size() const { return ring_.size(); }

   private:
    static constexpr uint32_t kEmpty = UINT32_MAX;
    struct Slot {
      uint32_t entry;  // into ring_, or kEmpty
      uint32_t hash;   // the key's hash: probes compare it before the key, Erase finds homes by it
    };
    struct Entry {
      Key key{};
      V value{};
    };
    static size_t TableSize(size_t max) {
      size_t n = 64;
      while (n < max * 2) n *= 2;
      return n;
    }
    static uint32_t Hash(const Key& k) { return static_cast<uint32_t>(KeyHash{}(k)); }
    size_t Home(uint32_t h) const { return h & (index_.size() - 1); }
    // True with *i at k's slot; false with *i at the free slot that ends k's run.
    bool Lookup(const Key& k, uint32_t h, size_t* i) const {
      const size_t mask = index_.size() - 1;
      for (size_t j = Home(h);; j = (j + 1) & mask) {
        const Slot& s = index_[j];
        if (s.entry == kEmpty) {
          *i = j;
          return false;
        }
        if (s.hash == h && ring_[s.entry].key == k) {
          *i = j;
          return true;
        }
      }
    }
    void Erase(const Key& k) {
      size_t i;
      if (!Lookup(k, Hash(k), &i)) return;
      const size_t mask = index_.size() - 1;
      // pull back each later slot of the run that may live at i (its home is not in (i, j])
      for (size_t j = (i + 1) & mask; index_[j].entry != kEmpty; j = (j + 1) & mask) {
        if (((j - Home(index_[j].hash)) & mask) >= ((j - i) & mask)) {
          index_[i] = index_[j];
          i = j;
        }
      }
      index_[i].entry = kEmpty;
    }

    size_t max_;
    std::vector<Slot> index_;
    std::vector<Entry> ring_;  // insertion order; once full, ring_[oldest_] goes first
    size_t oldest_ = 0;
  };

  Fifo<Filename> filenames_{kMaxFilenames};
  Fifo<Binary> binaries_{kMaxBinaries};
};

}  // namespace ctrace

#endif  // CTRACE_NATIVE_EXEC_MEMORY_H
