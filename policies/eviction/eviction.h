// EvictionPolicy: which cached block a prefix cache gives up when it needs a block and no
// free one is left (memory.eviction). One policy per file in this folder, each registered by
// name; a new rule is one class here and one registration.
//
// The prefix cache (policies/memory/paged.cc with memory.prefix_caching) keeps, per device
// block, whether it holds a cached block: a full block of computed tokens with a content
// identity (core/block_hash.h) that later requests can find. A cached block is either in use
// (some sequence holds it) or evictable (no holder: its KV stays until its block is needed).
// The cache tells the policy what happens to cached blocks, in this order of life:
//
//   on_cache(b, parent)  b became a cached block (in use). parent: the cached block holding
//                        the previous block of its chain, or -1 (first block, or the previous
//                        one is not cached). The cache's blocks form a forest by `parent`.
//   on_free(b)           b's last holder let go: b is evictable now.
//   on_hit(b)            a request found b cached and holds it now (b may have been
//                        evictable: it no longer is; or in use: it is shared once more).
//   evict()              the cache needs a block: the policy picks an evictable block its
//                        rule allows, forgets it (it is no longer cached) and returns it.
//
// What the cache promises about the forest: every holder of a cached block holds its parent
// too (a sequence holds its whole prefix: admission takes cached blocks front to back, a
// sequence lets go of its blocks back to front). So on_cache's parent is in use, an evictable
// block is hit only after its parent is in use again, and a block is freed only after its
// cached children are: an evictable block's whole subtree is evictable. A rule that evicts
// only some evictable blocks at a time (leaf-lru: leaves only) can therefore still give up
// every evictable block by repeated evict(), and num_evictable() is the room the cache counts
// (free blocks plus evictable ones) whatever the rule.
//
// Blocks are ids in [0, num_blocks). A block is evicted only when evictable, and every call
// is O(1) or O(log n): the cache makes them on every admission and release. Policies are
// deterministic (ties broken by a fixed rule), as the simulator must be.
//
// Thread safety: none; one cache drives one policy.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/registry.h"

namespace kvlab {

class EvictionPolicy {
 public:
  virtual ~EvictionPolicy() = default;

  virtual std::string name() const = 0;

  // REQUIRES: b is not cached. b becomes cached and in use; `parent` is -1 or a cached block.
  virtual void on_cache(int32_t block, int32_t parent) = 0;
  // REQUIRES: b is cached and in use, and this was its last holder.
  virtual void on_free(int32_t block) = 0;
  // REQUIRES: b is cached (evictable or in use).
  virtual void on_hit(int32_t block) = 0;
  // REQUIRES: num_evictable() > 0. Removes the victim from the cache and returns it. A cached
  // block whose parent is evicted keeps its place with parent -1.
  virtual int32_t evict() = 0;

  // Evictable blocks (cached, no holder): as many as repeated evict() calls give up.
  virtual int32_t num_evictable() const = 0;
  // REQUIRES: block in [0, num_blocks).
  virtual bool is_evictable(int32_t block) const = 0;

  // Checks the policy's own invariants; throws InvariantError naming the first violation.
  virtual void audit() const = 0;
};

struct EvictionConfig {
  int32_t num_blocks = 0;  // device blocks: ids are in [0, num_blocks)
};

using EvictionPolicyRegistry = Registry<EvictionPolicy, EvictionConfig>;
// The process-wide registry of eviction policies (filled by register_eviction_policies).
EvictionPolicyRegistry& eviction_policies();

// Registers the built-in policies (eviction.cc lists them).
void register_eviction_policies(EvictionPolicyRegistry& registry);

}  // namespace kvlab
