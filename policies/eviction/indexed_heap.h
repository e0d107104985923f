// IndexedHeap: a binary min-heap of block ids in [0, capacity), each with a key, that can
// also take out any member. push, erase and pop are O(log n), contains and top O(1), and
// nothing allocates after construction. Entries are ordered by key (operator<), then by id,
// so the order is total and deterministic. The eviction policies whose order is not the order
// blocks are freed in (lfu, leaf-lru) keep their candidates in one; a member's key does not
// change while it is in the heap (erase it and push it again).
//
// Thread safety: none.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kvlab {

template <typename Key>
class IndexedHeap {
 public:
  explicit IndexedHeap(int32_t capacity) : pos_(static_cast<size_t>(capacity), kAbsent) {
    heap_.reserve(static_cast<size_t>(capacity));
  }

  int32_t size() const { return static_cast<int32_t>(heap_.size()); }
  bool empty() const { return heap_.empty(); }
  // REQUIRES: id in [0, capacity).
  bool contains(int32_t id) const { return pos_[static_cast<size_t>(id)] != kAbsent; }
  // REQUIRES: !empty(). The least member.
  int32_t top() const { return heap_.front().id; }

  // REQUIRES: id in [0, capacity), not a member.
  void push(int32_t id, const Key& key) {
    heap_.push_back(Entry{key, id});
    sift_up(heap_.size() - 1);
  }

  // REQUIRES: id is a member.
  void erase(int32_t id) {
    const size_t at = static_cast<size_t>(pos_[static_cast<size_t>(id)]);
    pos_[static_cast<size_t>(id)] = kAbsent;
    const Entry last = heap_.back();
    heap_.pop_back();
    if (at == heap_.size()) return;  // it was the last entry
    place(at, last);
    if (at > 0 && less(last, heap_[(at - 1) / 2])) {
      sift_up(at);
    } else {
      sift_down(at);
    }
  }

  // REQUIRES: !empty(). Removes and returns the least member.
  int32_t pop() {
    const int32_t id = heap_.front().id;
    erase(id);
    return id;
  }

  // "" when the heap order and the positions agree; otherwise the first fault, in words.
  std::string check() const {
    int64_t members = 0;
    for (size_t id = 0; id < pos_.size(); ++id) {
      const int32_t at = pos_[id];
      if (at == kAbsent) continue;
      ++members;
      if (at < 0 || static_cast<size_t>(at) >= heap_.size() ||
          heap_[static_cast<size_t>(at)].id != static_cast<int32_t>(id)) {
        return "block " + std::to_string(id) + " has a wrong heap position";
      }
    }
    if (members != static_cast<int64_t>(heap_.size())) return "heap entries without a position";
    for (size_t i = 1; i < heap_.size(); ++i) {
      if (less(heap_[i], heap_[(i - 1) / 2])) {
        return "heap order broken at block " + std::to_string(heap_[i].id);
      }
    }
    return "";
  }

 private:
  static constexpr int32_t kAbsent = -1;

  struct Entry {
    Key key;
    int32_t id;
  };

  static bool less(const Entry& a, const Entry& b) {
    if (a.key < b.key) return true;
    if (b.key < a.key) return false;
    return a.id < b.id;
  }

  void place(size_t at, const Entry& e) {
    heap_[at] = e;
    pos_[static_cast<size_t>(e.id)] = static_cast<int32_t>(at);
  }

  void sift_up(size_t at) {
    const Entry e = heap_[at];
    while (at > 0) {
      const size_t parent = (at - 1) / 2;
      if (!less(e, heap_[parent])) break;
      place(at, heap_[parent]);
      at = parent;
    }
    place(at, e);
  }

  void sift_down(size_t at) {
    const Entry e = heap_[at];
    const size_t n = heap_.size();
    while (true) {
      size_t child = 2 * at + 1;
      if (child >= n) break;
      if (child + 1 < n && less(heap_[child + 1], heap_[child])) ++child;
      if (!less(heap_[child], e)) break;
      place(at, heap_[child]);
      at = child;
    }
    place(at, e);
  }

  std::vector<Entry> heap_;
  std::vector<int32_t> pos_;  // index in heap_, or kAbsent
};

}  // namespace kvlab
