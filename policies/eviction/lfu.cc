// "lfu": the evictable block found least often goes first. Its frequency is the number of
// hits (on_hit: a request found it cached, whether it was evictable or in use) since it was
// cached; ties go to the least recently freed, then to the lowest block id, so the order is
// deterministic. The classic least-frequently-used replacement rule of page and web caches,
// applied to KV blocks; unlike lru it keeps a shared system prompt that many requests found
// even when it was released long ago, at the risk of keeping once-popular blocks that are no
// longer asked for (there is no ageing).
// An indexed binary heap (indexed_heap.h) over the evictable blocks keyed by (hits, time
// freed): on_free, on_hit and evict are O(log n), the rest O(1).
#include <string>
#include <vector>

#include "core/errors.h"
#include "policies/eviction/eviction.h"
#include "policies/eviction/indexed_heap.h"

namespace kvlab {

namespace {

class LfuEviction final : public EvictionPolicy {
 public:
  explicit LfuEviction(int32_t num_blocks)
      : num_blocks_(num_blocks),
        hits_(static_cast<size_t>(num_blocks), 0),
        cached_(static_cast<size_t>(num_blocks), 0),
        evictable_(num_blocks) {}

  std::string name() const override { return "lfu"; }

  void on_cache(int32_t block, int32_t /*parent*/) override {
    check_range(block);
    if (cached_[static_cast<size_t>(block)] != 0) {
      throw InvariantError("lfu: block cached twice");
    }
    cached_[static_cast<size_t>(block)] = 1;
    hits_[static_cast<size_t>(block)] = 0;
  }

  void on_free(int32_t block) override {
    check_range(block);
    if (cached_[static_cast<size_t>(block)] == 0 || evictable_.contains(block)) {
      throw InvariantError("lfu: free of a block that is not cached and in use");
    }
    evictable_.push(block, Key{hits_[static_cast<size_t>(block)], ++clock_});
  }

  void on_hit(int32_t block) override {
    check_range(block);
    if (cached_[static_cast<size_t>(block)] == 0)
      throw InvariantError("lfu: hit on an uncached block");
    ++hits_[static_cast<size_t>(block)];
    if (evictable_.contains(block)) evictable_.erase(block);
  }

  int32_t evict() override {
    if (evictable_.empty()) throw InvariantError("lfu: evict with nothing evictable");
    const int32_t victim = evictable_.pop();
    cached_[static_cast<size_t>(victim)] = 0;
    return victim;
  }

  int32_t num_evictable() const override { return evictable_.size(); }
  bool is_evictable(int32_t block) const override { return evictable_.contains(block); }

  void audit() const override {
    const std::string fault = evictable_.check();
    if (!fault.empty()) throw InvariantError("lfu audit: " + fault);
    for (int32_t b = 0; b < num_blocks_; ++b) {
      if (evictable_.contains(b) && cached_[static_cast<size_t>(b)] == 0) {
        throw InvariantError("lfu audit: block " + std::to_string(b) + " evictable but not cached");
      }
    }
  }

 private:
  // Fewer hits first, then freed earlier (clock_ counts frees: no two evictable blocks share
  // a time); IndexedHeap breaks what is left by block id.
  struct Key {
    uint64_t hits;
    uint64_t freed;
    bool operator<(const Key& o) const { return hits != o.hits ? hits < o.hits : freed < o.freed; }
  };

  void check_range(int32_t block) const {
    if (block < 0 || block >= num_blocks_) throw InvariantError("lfu: block id out of range");
  }

  int32_t num_blocks_;
  std::vector<uint64_t> hits_;   // since the block was cached
  std::vector<uint8_t> cached_;  // as the cache told: cached and not evicted since
  IndexedHeap<Key> evictable_;
  uint64_t clock_ = 0;
};

}  // namespace

void register_lfu_eviction(EvictionPolicyRegistry& registry) {
  registry.add({
      .name = "lfu",
      .factory =
          [](const EvictionConfig& c) { return std::make_unique<LfuEviction>(c.num_blocks); },
      .description = "least often hit since cached first; ties: least recently freed, then "
                     "lowest block id",
  });
}

}  // namespace kvlab
