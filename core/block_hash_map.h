// BlockHashMap: block identity (core/block_hash.h) -> int32 value, for the prefix cache's
// hash -> block map and the unbounded-cache bound.
//
// Open addressing with linear probing over one array of (key, value) slots, keys used as their
// own hash (block identities are splitmix64 outputs: already uniform), backward-shift
// deletion (no tombstones), load factor at most 1/2. Measured against std::unordered_map on the
// bound of 30,731 ShareGPT requests (1.2 M identities): the node-based map spent most of a run's
// time in cache misses walking its buckets; one probe into a flat array is usually one miss
// (docs/performance.md, "prefix caching"). Boost 1.74 (Debian's) has no flat map.
//
// Thread safety: none.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kvlab {

class BlockHashMap {
 public:
  explicit BlockHashMap(size_t expected = 0) { reserve(expected); }

  // Room for `n` keys without growing.
  void reserve(size_t n) {
    size_t want = 16;
    while (want < 2 * n) want *= 2;
    if (want > slots_.size()) rehash(want);
  }

  size_t size() const { return size_ + (has_zero_ ? 1 : 0); }
  bool empty() const { return size() == 0; }

  // The value stored for `key`, or nullptr.
  const int32_t* find(uint64_t key) const {
    if (key == kEmpty) return has_zero_ ? &zero_value_ : nullptr;
    for (size_t i = home(key);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == key) return &s.value;
      if (s.key == kEmpty) return nullptr;
    }
  }
  int32_t* find(uint64_t key) {
    return const_cast<int32_t*>(static_cast<const BlockHashMap*>(this)->find(key));
  }
  bool contains(uint64_t key) const { return find(key) != nullptr; }

  // Inserts key -> value unless `key` is present (then nothing changes). Returns whether it
  // inserted.
  bool insert(uint64_t key, int32_t value) {
    if (key == kEmpty) {
      if (has_zero_) return false;
      has_zero_ = true;
      zero_value_ = value;
      return true;
    }
    if (2 * (size_ + 1) > slots_.size()) rehash(slots_.size() * 2);
    size_t i = home(key);
    for (; slots_[i].key != kEmpty; i = (i + 1) & mask_) {
      if (slots_[i].key == key) return false;
    }
    slots_[i] = {key, value};
    ++size_;
    return true;
  }

  // Removes `key` if present; returns whether it was.
  bool erase(uint64_t key) {
    if (key == kEmpty) {
      const bool had = has_zero_;
      has_zero_ = false;
      return had;
    }
    size_t i = home(key);
    for (;; i = (i + 1) & mask_) {
      if (slots_[i].key == key) break;
      if (slots_[i].key == kEmpty) return false;
    }
    // Backward shift: pull later entries of the probe run into the hole when their home does
    // not lie cyclically in (hole, j].
    for (size_t j = (i + 1) & mask_; slots_[j].key != kEmpty; j = (j + 1) & mask_) {
      const size_t h = home(slots_[j].key);
      const bool stays = (i <= j) ? (i < h && h <= j) : (i < h || h <= j);
      if (stays) continue;
      slots_[i] = slots_[j];
      i = j;
    }
    slots_[i] = {kEmpty, 0};
    --size_;
    return true;
  }

  void clear() {
    for (Slot& s : slots_) s = {kEmpty, 0};
    size_ = 0;
    has_zero_ = false;
  }

 private:
  static constexpr uint64_t kEmpty = 0;
  struct Slot {
    uint64_t key;
    int32_t value;
  };

  size_t home(uint64_t key) const { return static_cast<size_t>(key) & mask_; }

  void rehash(size_t capacity) {
    std::vector<Slot> old(capacity, Slot{kEmpty, 0});
    old.swap(slots_);
    mask_ = capacity - 1;
    size_ = 0;
    for (const Slot& s : old) {
      if (s.key != kEmpty) insert(s.key, s.value);
    }
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;  // keys other than kEmpty
  bool has_zero_ = false;
  int32_t zero_value_ = 0;
};

}  // namespace kvlab
