// "lru": the least recently freed block goes first (vLLM v1's free-block queue). A request
// frees its blocks tail first, so within one request the deepest blocks go before the blocks
// they extend: a prefix stays findable as long as possible. Blocks in use are not ordered
// (they cannot be evicted); a block's recency is the moment its last holder let go.
// An intrusive doubly linked list over block ids: every call is O(1).
#include <string>
#include <vector>

#include "core/errors.h"
#include "policies/eviction/eviction.h"

namespace kvlab {

namespace {

class LruEviction final : public EvictionPolicy {
 public:
  explicit LruEviction(int32_t num_blocks)
      : sentinel_(num_blocks),
        prev_(static_cast<size_t>(num_blocks) + 1, kOut),
        next_(static_cast<size_t>(num_blocks) + 1, kOut) {
    prev_[static_cast<size_t>(sentinel_)] = sentinel_;
    next_[static_cast<size_t>(sentinel_)] = sentinel_;
  }

  std::string name() const override { return "lru"; }

  void on_cache(int32_t block, int32_t /*parent*/) override { check_range(block); }

  void on_free(int32_t block) override {
    check_range(block);
    if (is_evictable(block)) throw InvariantError("lru: block freed twice");
    const int32_t last = prev_[static_cast<size_t>(sentinel_)];
    prev_[static_cast<size_t>(block)] = last;
    next_[static_cast<size_t>(block)] = sentinel_;
    next_[static_cast<size_t>(last)] = block;
    prev_[static_cast<size_t>(sentinel_)] = block;
    ++size_;
  }

  void on_hit(int32_t block) override {
    check_range(block);
    if (is_evictable(block)) unlink(block);
  }

  int32_t evict() override {
    if (size_ == 0) throw InvariantError("lru: evict with nothing evictable");
    const int32_t victim = next_[static_cast<size_t>(sentinel_)];
    unlink(victim);
    return victim;
  }

  int32_t num_evictable() const override { return size_; }
  bool is_evictable(int32_t block) const override {
    return prev_[static_cast<size_t>(block)] != kOut;
  }

  void audit() const override {
    int32_t count = 0;
    int32_t at = sentinel_;
    while (true) {
      const int32_t n = next_[static_cast<size_t>(at)];
      if (n < 0 || n > sentinel_ || prev_[static_cast<size_t>(n)] != at) {
        throw InvariantError("lru audit: list links broken at block " + std::to_string(at));
      }
      if (n == sentinel_) break;
      if (++count > size_) throw InvariantError("lru audit: list longer than its size");
      at = n;
    }
    if (count != size_) throw InvariantError("lru audit: list shorter than its size");
  }

 private:
  static constexpr int32_t kOut = -1;

  void check_range(int32_t block) const {
    // Not check_invariant: its message argument would build a std::string on every call.
    if (block < 0 || block >= sentinel_) throw InvariantError("lru: block id out of range");
  }

  void unlink(int32_t block) {
    const size_t b = static_cast<size_t>(block);
    next_[static_cast<size_t>(prev_[b])] = next_[b];
    prev_[static_cast<size_t>(next_[b])] = prev_[b];
    prev_[b] = next_[b] = kOut;
    --size_;
  }

  int32_t sentinel_;
  std::vector<int32_t> prev_, next_;  // kOut: not in the list
  int32_t size_ = 0;
};

}  // namespace

void register_lru_eviction(EvictionPolicyRegistry& registry) {
  registry.add({
      .name = "lru",
      .factory =
          [](const EvictionConfig& c) { return std::make_unique<LruEviction>(c.num_blocks); },
      .description = "least recently freed first (vLLM v1); a request frees its blocks tail first",
  });
}

}  // namespace kvlab
