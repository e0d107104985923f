// PagedKvCacheManager: the vLLM (PagedAttention) memory manager.
//
// The device arena is cut into num_blocks = capacity_slots / block_size fixed blocks; a
// sequence holds a block table (its blocks in token order) and token i lives in slot
// block_table[i / block_size] * block_size + i % block_size. Blocks are reference counted:
// fork() makes the child's table a copy of the parent's (no data moves) and the first append
// to a shared, partly filled last block copies it (copy-on-write), so forked samples share
// their prompt's KV. A host pool of swap_capacity_slots / block_size blocks holds swapped-out
// groups; shared blocks are swapped once and stay shared.
//
// Admission (vLLM v0's BlockSpaceManager):
//  - kNever when the group's footprint at its full final length cannot fit in
//    num_blocks - watermark_blocks. The footprint is blocks(prompt + output) for each
//    unfinished sequence, plus, for each sample not forked yet, the blocks it cannot share
//    (all but the prompt's full blocks). This is the one decision that reads
//    spec.output_len: it plays the role of vLLM's max_tokens (the user's stated bound on the
//    output), and without it a group could be admitted that can never finish, deadlocking the
//    engine instead of being rejected with a reason. (breakdown() reads final_len() too, but
//    only to measure.)
//  - kLater when admitting now would leave fewer than watermark_blocks free blocks
//    (watermark_blocks = floor(watermark * num_blocks), as vLLM), so newly admitted groups do
//    not immediately force preemptions.
//  - admit() gives each unfinished sequence blocks for its num_tokens(); a group that has not
//    forked holds one sequence, its samples share its blocks at fork(). A group re-admitted
//    after recompute gives each sample its own blocks (their prompts are recomputed apart).
//
// Accounting (breakdown): physical slots in blocks held by sequences are split, per slot,
// into token_states (holding a computed token's KV; a block shared by forked samples counts
// once), reserved (not computed yet, below the sequence's true final length) and
// internal_frag (past it: the unused tail of the last block). external_frag is always 0: any
// free block can serve any request, which is the point of paging. breakdown() costs
// O(sequences): what shared blocks add is kept up to date as reference counts change.
//
// Invariant the accounting relies on (checked by fork() and audit()): every slot of a shared
// block holds a computed token for every sequence sharing it. fork() requires the parent to
// have computed everything it holds, which is the scheduler's order (update_from_output:
// prompt computed, first tokens sampled, fork; then, next step, append_slot for each sample's
// own first token); sharing a slot whose token is still to be computed would also be wrong,
// since samples' next tokens differ.
//
// Prefix caching (memory.prefix_caching, vLLM v1's automatic prefix caching): a full block of
// computed tokens gets a content identity (core/block_hash.h: a chain hash of its parent's
// identity and its tokens) and a map identity -> block finds it. Admission gives a sequence
// the cached blocks its tokens begin with (one more reference each: shared, never copied) and
// allocates only the rest; the scheduler starts it at cached_prefix() computed tokens, so only
// the rest is prefilled (at least its last token: max_cached_blocks). A block's last holder
// letting go of a cached block does not free it: it becomes evictable, keeps its KV, and is
// found again until an allocation finds no free block and the eviction policy
// (memory.eviction, policies/eviction/) gives it up. Free blocks are counted as free plus
// evictable wherever admission, growth and swap-in ask for room: the cache only ever uses
// memory nobody else needs. Blocks become findable when the step that computes their last
// token has run (on_computed); two blocks computed with the same identity at once are both
// used, the second is simply not findable. Swapped-out blocks leave the cache's reach (the
// host pool holds no identities); on swap-in, blocks whose identity is no longer cached are
// made findable again. Cached blocks are always full, and a full block never changes, so
// copy-on-write (which copies a partly filled last block) never touches a cached block.
//
// Thread safety: none; one Engine drives one manager.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/block_hash_map.h"
#include "core/kv_cache_manager.h"
#include "policies/eviction/eviction.h"
#include "policies/memory/sequence_table.h"

namespace kvlab {

class PagedKvCacheManager final : public KvCacheManager {
 public:
  // Reads memory.block_size and memory.watermark from config.settings (declared by
  // register_paged). Throws InputError naming memory.block_size, memory.watermark,
  // memory.capacity_slots (at least one block) or memory.swap_capacity_slots (>= 0).
  explicit PagedKvCacheManager(const MemoryConfig& config);

  std::string name() const override;
  int64_t capacity_slots() const override;
  int64_t host_capacity_slots() const override;
  int64_t free_slots() const override;

  AllocStatus can_admit(const SequenceGroup& group) const override;
  void admit(const SequenceGroup& group) override;
  bool can_append(const SequenceGroup& group) const override;
  std::vector<KvCopy> append_slot(const Sequence& seq) override;
  // REQUIRES: parent holds device memory and has computed every token it holds; child (same
  // group) holds nothing. Never copies.
  std::vector<KvCopy> fork(const Sequence& parent, const Sequence& child) override;
  // A sequence that holds nothing (never admitted, or already released) is left alone.
  void release(const Sequence& seq) override;
  AllocStatus can_swap_out(const SequenceGroup& group) const override;
  std::vector<KvCopy> swap_out(const SequenceGroup& group) override;
  // Applies the admission watermark too (as vLLM): kNever when the group's blocks exceed
  // num_blocks - watermark_blocks.
  AllocStatus can_swap_in(const SequenceGroup& group) const override;
  std::vector<KvCopy> swap_in(const SequenceGroup& group) override;
  KvLayout layout(const Sequence& seq) const override;
  MemoryBreakdown breakdown(const SequenceGroup* head_of_line) const override;
  void audit() const override;
  int32_t cached_prefix(const Sequence& seq) const override;
  int32_t probe_cached_prefix(const Sequence& seq) const override;
  void on_computed(const Sequence& seq) override;
  PrefixCacheStats prefix_cache_stats() const override;

  // Introspection for tests and benchmarks.
  int32_t block_size() const { return block_size_; }
  int32_t num_blocks() const { return device_.num_blocks(); }
  // Blocks no sequence holds: free, or cached and evictable.
  int32_t num_free_blocks() const { return available_blocks(); }
  bool prefix_caching() const { return eviction_ != nullptr; }
  // REQUIRES: device_block in range. Whether it holds a findable cached block.
  bool is_cached(int32_t device_block) const;
  int32_t num_host_blocks() const { return host_.num_blocks(); }
  int32_t num_free_host_blocks() const { return host_.num_free(); }
  int32_t watermark_blocks() const { return watermark_blocks_; }
  int32_t ref_count(int32_t device_block) const;
  // The blocks `seq` holds, device or host ids (empty when it holds none).
  std::vector<int32_t> block_table(const Sequence& seq) const;
  bool is_swapped(const Sequence& seq) const;

 private:
  // Reference-counted blocks with a LIFO free list: the most recently freed block is reused
  // first (deterministic; a fresh pool hands out 0, 1, 2, ...).
  class BlockPool {
   public:
    explicit BlockPool(int32_t num_blocks);
    int32_t num_blocks() const { return static_cast<int32_t>(ref_.size()); }
    int32_t num_free() const { return static_cast<int32_t>(free_.size()); }
    int32_t ref(int32_t block) const { return ref_[static_cast<size_t>(block)]; }
    // REQUIRES: num_free() > 0. The block comes with one reference.
    int32_t allocate();
    // REQUIRES: block has no reference and is not on the free list (an evicted cached block).
    void take(int32_t block) { ref_[static_cast<size_t>(block)] = 1; }
    void add_ref(int32_t block) { ++ref_[static_cast<size_t>(block)]; }
    // Returns the references left; the block joins the free list when none are, unless
    // `keep` (a cached block: the eviction policy holds it instead).
    int32_t drop_ref(int32_t block, bool keep = false);
    const std::vector<int32_t>& free_list() const { return free_; }
    const std::vector<int32_t>& refs() const { return ref_; }

   private:
    std::vector<int32_t> ref_;
    std::vector<int32_t> free_;
  };

  // What one extra reference to a shared block adds to the per-sequence sums of breakdown().
  struct SlotClasses {
    int64_t computed = 0;
    int64_t reserved = 0;
    int64_t internal_frag = 0;
    SlotClasses& operator+=(const SlotClasses& o);
    SlotClasses& operator-=(const SlotClasses& o);
    friend bool operator==(const SlotClasses&, const SlotClasses&) = default;
  };

  struct SeqState {
    const Sequence* seq = nullptr;
    std::vector<int32_t> blocks;  // device block ids, or host block ids when on_host
    int32_t len = 0;              // token slots in use: tokens [0, len) have a slot
    bool on_host = false;
    // Prefix caching: identities of its first hashes.size() blocks (full and computed), and
    // the tokens admission found cached.
    std::vector<uint64_t> hashes;
    int32_t cached_tokens = 0;
  };

  int64_t blocks_for(int64_t tokens) const { return (tokens + block_size_ - 1) / block_size_; }
  // True when the next slot needs a new block (also when the sequence holds none). Without
  // a division: blocks == ceil(len / block_size), so len fills them exactly or not.
  bool last_block_full(const SeqState& s) const {
    return static_cast<int64_t>(s.blocks.size()) * block_size_ == s.len;
  }
  int32_t fill_of(const SeqState& s, size_t index) const;
  SlotClasses shared_copy_classes(size_t index, int32_t fill, int32_t final_len) const;
  // Device reference changes that keep shared_dup_ in step.
  void add_device_ref(int32_t block, size_t index, int32_t fill, int32_t final_len);
  void drop_device_ref(int32_t block, size_t index, int32_t fill, int32_t final_len);

  // REQUIRES: `seq` holds nothing here. Its state, empty, on the device.
  SeqState& add_state(const Sequence& seq);
  // `kept`: unreferenced blocks not on the free list (the prefix cache's evictable blocks).
  static void check_pool(const BlockPool& pool, int32_t* table_refs, int64_t referenced,
                         int64_t kept, const char* what);
  void audit_cache() const;
  // Distinct blocks held by the group's unfinished sequences on the device (or host).
  int64_t distinct_blocks(const SequenceGroup& group, bool on_host) const;

  // ---- prefix caching ----
  // Blocks admission would find cached for `seq`: walks its block identities while the cache
  // has them, at most max_cached_blocks. Fills `hashes` with the identities found and, when
  // `blocks` is not null, the blocks.
  int32_t lookup_prefix(const Sequence& seq, std::vector<uint64_t>& hashes,
                        std::vector<int32_t>* blocks) const;
  // Free blocks plus evictable cached blocks.
  int32_t available_blocks() const {
    return device_.num_free() + (eviction_ ? eviction_->num_evictable() : 0);
  }
  // A block for new tokens: a free one, else one the eviction policy gives up.
  int32_t allocate_device();
  // Makes device block `block` at table position `index` of `s` findable under `hash`,
  // unless it already is or another block holds that identity.
  void make_findable(const SeqState& s, size_t index, uint64_t hash);

  int32_t block_size_;
  BlockPool device_;
  BlockPool host_;
  int32_t watermark_blocks_;
  // The held sequences' states, found through their handles; spares keep their block
  // vectors' capacity, so steady-state admission does not allocate.
  SequenceTable<SeqState> states_;
  // Sum over device blocks b of (ref(b) - 1) * shared_copy_classes(b): what per-sequence sums
  // count more than once.
  SlotClasses shared_dup_;
  // Scratch for swaps and distinct-block counts: a block is marked when mark[b] == epoch.
  mutable std::vector<uint32_t> device_mark_, host_mark_;
  mutable std::vector<int32_t> device_remap_, host_remap_;
  mutable uint32_t epoch_ = 0;
  mutable std::vector<int32_t> audit_scratch_[4];
  uint32_t next_epoch() const;

  // Prefix caching (all empty when off): the eviction policy, each device block's identity
  // (valid when cached_[b]), and identity -> block for the findable ones.
  std::unique_ptr<EvictionPolicy> eviction_;
  std::vector<uint64_t> block_hash_;
  std::vector<uint8_t> cached_;
  BlockHashMap cache_;
  int64_t hit_blocks_ = 0;
  int64_t evicted_blocks_ = 0;
  mutable std::vector<uint64_t> probe_hashes_;
  mutable std::vector<int32_t> probe_blocks_;
  // What the last can_admit found cached, for admit to take: per unfinished sequence of the
  // group its number of hits, and their identities and blocks one sequence after another.
  mutable std::vector<int32_t> plan_hits_;
  mutable std::vector<uint64_t> plan_hashes_;
  mutable std::vector<int32_t> plan_blocks_;
};

// Registers "paged" (its keys memory.block_size, memory.watermark, memory.prefix_caching and
// memory.eviction, its traits).
void register_paged(MemoryPolicyRegistry& registry);

}  // namespace kvlab
