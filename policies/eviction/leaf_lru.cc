// "leaf-lru": SGLang RadixAttention's rule (Zheng et al., "SGLang: Efficient Execution of
// Structured Language Model Programs", 2024; python/sglang/srt/mem_cache/radix_cache.py,
// evict()): only leaves of the cache forest may go, the least recently used leaf first. A
// leaf is a cached block that no cached block names as its parent (on_cache's `parent`).
// Recency is SGLang's last_access_time: the last time a request used the block, caching it
// (on_cache) or finding it (on_hit, in use or not), not the time it was freed. Evicting a leaf
// may make its parent a leaf, which then competes by its own recency. A prefix is thus given
// up from its tail: a block never goes while a longer cached prefix still needs it.
//
// Why access time: an admission finds a prefix front to back and its blocks are cached in
// chain order, so a parent was last used before its children and a plain LRU over access
// times would evict it first, stranding them; hence the leaf rule. (By time freed instead,
// the rule would be lru's: holders let go tail first, so a parent is always freed after its
// children and lru already takes leaves first.) The two differ in what counts as recent: lru
// keeps what a request released last, leaf-lru what a request started using last.
//
// Why every evictable block counts (num_evictable) although only leaves can go: the cache
// keeps every holder of a block holding its parent too (eviction.h), so an evictable block's
// cached children are evictable, and so is its whole subtree; its subtree's leaves can go,
// then their parents, and so on up to it. Repeated evict() thus gives up every evictable
// block, which is the room the cache counts. The policy checks that promise where it could
// break (on_cache with a parent not in use, on_hit of a block whose parent is evictable,
// on_free of a block with a child in use) and audit() checks it over the whole forest.
//
// The forest is the one on_cache reports: a block cached behind a block that was not cached
// (its identity was held by another block) is a root, so it does not keep that other block
// from going first; it is only found again while the other block stays.
//
// Per block: parent, cached children, children in use, last use; an indexed binary heap
// (indexed_heap.h) of the evictable leaves keyed by last use. on_free, on_hit and evict are
// O(log n), the rest O(1); audit() is O(blocks).
#include <string>
#include <vector>

#include "core/errors.h"
#include "policies/eviction/eviction.h"
#include "policies/eviction/indexed_heap.h"

namespace kvlab {

namespace {

class LeafLruEviction final : public EvictionPolicy {
 public:
  explicit LeafLruEviction(int32_t num_blocks)
      : num_blocks_(num_blocks),
        state_(static_cast<size_t>(num_blocks), kOut),
        parent_(static_cast<size_t>(num_blocks), -1),
        children_(static_cast<size_t>(num_blocks), 0),
        held_children_(static_cast<size_t>(num_blocks), 0),
        used_(static_cast<size_t>(num_blocks), 0),
        leaves_(num_blocks) {}

  std::string name() const override { return "leaf-lru"; }

  void on_cache(int32_t block, int32_t parent) override {
    check_range(block);
    if (state_[at(block)] != kOut) throw InvariantError("leaf-lru: block cached twice");
    if (parent != -1) {
      check_range(parent);
      if (state_[at(parent)] != kHeld) {
        throw InvariantError("leaf-lru: block " + std::to_string(block) + " cached under parent " +
                             std::to_string(parent) + ", which is not in use");
      }
      ++children_[at(parent)];
      ++held_children_[at(parent)];
    }
    state_[at(block)] = kHeld;
    used_[at(block)] = ++clock_;
    parent_[at(block)] = parent;
    children_[at(block)] = 0;
    held_children_[at(block)] = 0;
  }

  void on_free(int32_t block) override {
    check_range(block);
    const size_t b = at(block);
    if (state_[b] != kHeld) throw InvariantError("leaf-lru: free of a block not in use");
    if (held_children_[b] != 0) {
      throw InvariantError("leaf-lru: block " + std::to_string(block) + " freed while " +
                           std::to_string(held_children_[b]) + " of its children are in use");
    }
    state_[b] = kEvictable;
    ++num_evictable_;
    if (parent_[b] != -1) --held_children_[at(parent_[b])];
    if (children_[b] == 0) leaves_.push(block, used_[b]);
  }

  void on_hit(int32_t block) override {
    check_range(block);
    const size_t b = at(block);
    if (state_[b] == kOut) throw InvariantError("leaf-lru: hit on an uncached block");
    const int32_t parent = parent_[b];
    if (state_[b] == kEvictable && parent != -1 && state_[at(parent)] != kHeld) {
      throw InvariantError("leaf-lru: hit on block " + std::to_string(block) +
                           " before its parent " + std::to_string(parent));
    }
    used_[b] = ++clock_;
    if (state_[b] == kHeld) return;  // shared once more
    state_[b] = kHeld;
    --num_evictable_;
    if (parent != -1) ++held_children_[at(parent)];
    if (leaves_.contains(block)) leaves_.erase(block);
  }

  int32_t evict() override {
    if (leaves_.empty()) {
      throw InvariantError("leaf-lru: evict with no evictable leaf (" +
                           std::to_string(num_evictable_) + " evictable blocks)");
    }
    const int32_t victim = leaves_.pop();
    const size_t v = at(victim);
    state_[v] = kOut;
    --num_evictable_;
    const int32_t parent = parent_[v];
    parent_[v] = -1;
    if (parent != -1) {
      const size_t p = at(parent);
      if (--children_[p] == 0 && state_[p] == kEvictable) leaves_.push(parent, used_[p]);
    }
    return victim;
  }

  int32_t num_evictable() const override { return num_evictable_; }
  bool is_evictable(int32_t block) const override { return state_[at(block)] == kEvictable; }

  // Recounts children from the parents, and checks that the heap holds exactly the evictable
  // leaves and that no evictable block has a child in use (the promise num_evictable rests on).
  void audit() const override {
    const std::string fault = leaves_.check();
    if (!fault.empty()) throw InvariantError("leaf-lru audit: " + fault);
    std::vector<int32_t>& children = scratch_[0];
    std::vector<int32_t>& held = scratch_[1];
    children.assign(static_cast<size_t>(num_blocks_), 0);
    held.assign(static_cast<size_t>(num_blocks_), 0);
    int32_t evictable = 0;
    for (int32_t b = 0; b < num_blocks_; ++b) {
      const size_t i = at(b);
      if (state_[i] == kOut) {
        if (parent_[i] != -1) fail("uncached block " + std::to_string(b) + " has a parent");
        continue;
      }
      if (state_[i] == kEvictable) ++evictable;
      const int32_t p = parent_[i];
      if (p == -1) continue;
      if (p < 0 || p >= num_blocks_ || state_[at(p)] == kOut) {
        fail("block " + std::to_string(b) + " names parent " + std::to_string(p) +
             ", which is not cached");
      }
      ++children[at(p)];
      if (state_[i] == kHeld) ++held[at(p)];
    }
    if (evictable != num_evictable_) {
      fail(std::to_string(evictable) + " evictable blocks, counted " +
           std::to_string(num_evictable_));
    }
    for (int32_t b = 0; b < num_blocks_; ++b) {
      const size_t i = at(b);
      if (children[i] != children_[i] || held[i] != held_children_[i]) {
        fail("block " + std::to_string(b) + " has " + std::to_string(children[i]) + " children (" +
             std::to_string(held[i]) + " in use), counted " + std::to_string(children_[i]) + " (" +
             std::to_string(held_children_[i]) + ")");
      }
      if (state_[i] == kEvictable && held[i] != 0) {
        fail("evictable block " + std::to_string(b) + " has a child in use");
      }
      const bool leaf = state_[i] == kEvictable && children[i] == 0;
      if (leaf != leaves_.contains(b)) {
        fail("block " + std::to_string(b) + (leaf ? " is an evictable leaf not" : " is not") +
             " in the heap of evictable leaves");
      }
    }
  }

 private:
  enum State : uint8_t { kOut, kHeld, kEvictable };  // kOut: not cached

  static size_t at(int32_t block) { return static_cast<size_t>(block); }
  [[noreturn]] static void fail(const std::string& what) {
    throw InvariantError("leaf-lru audit: " + what);
  }
  void check_range(int32_t block) const {
    if (block < 0 || block >= num_blocks_) throw InvariantError("leaf-lru: block id out of range");
  }

  int32_t num_blocks_;
  std::vector<State> state_;
  std::vector<int32_t> parent_;         // -1: a root (or not cached)
  std::vector<int32_t> children_;       // cached blocks naming it as parent
  std::vector<int32_t> held_children_;  // of which in use
  std::vector<uint64_t> used_;          // last on_cache or on_hit (clock_: no two alike)
  IndexedHeap<uint64_t> leaves_;        // evictable blocks without cached children, by used_
  int32_t num_evictable_ = 0;
  uint64_t clock_ = 0;
  mutable std::vector<int32_t> scratch_[2];
};

}  // namespace

void register_leaf_lru_eviction(EvictionPolicyRegistry& registry) {
  registry.add({
      .name = "leaf-lru",
      .factory =
          [](const EvictionConfig& c) { return std::make_unique<LeafLruEviction>(c.num_blocks); },
      .description = "SGLang RadixAttention: least recently used (cached or hit) leaf of the "
                     "cache forest first; a prefix goes tail first",
  });
}

}  // namespace kvlab
