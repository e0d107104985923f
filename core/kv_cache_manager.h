// KvCacheManager: the one interface every KV-cache memory policy implements.
//
// A manager owns a device arena of capacity_slots() token slots (a slot holds the K and V of
// one token in every layer) and a bounded host pool for swapping. It answers questions
// (can_admit, can_append, can_swap_in, ...) and carries out allocations it is told to make;
// it never decides whom to preempt: that is the scheduler's job. Every data movement it
// implies (swap out, swap in, copy-on-write, fork copies) is returned as plain KvCopy data
// that an Executor carries out; the simulator only counts it.
//
// Lifecycle of a group: can_admit -> admit (slots for every unfinished sequence's tokens, and
// for a group that has not forked yet, whatever its future samples need) -> append_slot before
// each token is processed -> fork when the prompt is done (n > 1) -> release each sequence as
// it finishes. Preemption: release every sequence (recompute) or swap_out / swap_in.
//
// Ownership: within a step only the Scheduler calls the mutating methods (in schedule() and
// update_from_output()); the Engine and the Executor hold it const.
//
// Thread safety: none; one Engine drives one manager.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/registry.h"
#include "core/request.h"

namespace kvlab {

// Admission answer: kOk now, kLater when memory frees up, kNever when it cannot ever fit.
enum class AllocStatus { kOk, kLater, kNever };
const char* to_string(AllocStatus s);

// Copy `num_slots` consecutive token slots from `src_slot` to `dst_slot` (slot indices in the
// source and destination spaces: device arena or host pool, as the list it sits in says).
struct KvCopy {
  int64_t src_slot = 0;
  int64_t dst_slot = 0;
  int64_t num_slots = 0;
  friend bool operator==(const KvCopy&, const KvCopy&) = default;
};

// Where a sequence's tokens live in the device arena: the contract with the kernels.
// Paged: token i of the sequence sits in slot block_table[i / block_size] * block_size +
// i % block_size. Contiguous: token i sits in slot base_slot + i, i < reserved_slots.
struct KvLayout {
  enum class Kind { kPaged, kContiguous };
  Kind kind = Kind::kPaged;
  int32_t block_size = 0;               // paged
  std::vector<int32_t> block_table;     // paged: physical block ids
  int64_t base_slot = 0;                // contiguous
  int64_t reserved_slots = 0;           // contiguous
  int64_t slot_of(int64_t token_index) const {
    if (kind == Kind::kContiguous) return base_slot + token_index;
    return static_cast<int64_t>(block_table[static_cast<size_t>(token_index / block_size)]) *
               block_size +
           token_index % block_size;
  }
};

// What the capacity holds, in slots; the six parts sum to capacity (vLLM paper, Fig. 2, plus
// the prefix cache).
//  token_states:  KV of tokens already computed (a slot shared by forked samples, or by
//                 requests sharing a cached prefix, counts once)
//  reserved:      held for tokens the request will still produce (up to its true final length)
//  internal_frag: held but never to be used (past the request's true final length)
//  external_frag: free, but in gaps too small for the head-of-line waiting request
//  cached:        prefix cache: blocks of computed KV no running request holds, kept for
//                 requests that may reuse them and given up (evicted) when a block is needed;
//                 virtual manager with deferred reclamation: physical pages left mapped in the
//                 virtual range of a finished request, for the next request given that range,
//                 and unmapped when a page is needed elsewhere
//  free:          the rest
struct MemoryBreakdown {
  int64_t token_states = 0;
  int64_t reserved = 0;
  int64_t internal_frag = 0;
  int64_t external_frag = 0;
  int64_t free = 0;
  int64_t capacity = 0;
  int64_t cached = 0;
  int64_t sum() const {
    return token_states + reserved + internal_frag + external_frag + cached + free;
  }
  friend bool operator==(const MemoryBreakdown&, const MemoryBreakdown&) = default;
};

// A virtual-memory manager's counters (all 0 for a manager that maps no pages): what it holds
// now and what it has mapped and unmapped since it was created. A "page" is one physical page
// of page_bytes in one K or V tensor of one layer (one cuMemMap call); a page group is the
// 2 x layers pages that hold the same tokens_per_page tokens in every layer.
struct VirtualMemoryStats {
  bool enabled = false;
  int64_t page_bytes = 0;
  int32_t tokens_per_page = 0;
  int64_t ranges_total = 0;     // virtual ranges the virtual space holds (one per sequence)
  int64_t ranges_in_use = 0;    // now: held by sequences or for their future samples
  int64_t range_slots = 0;      // token slots one range addresses
  int64_t pages_mapped = 0;     // since creation, in pages (page groups x 2 x layers)
  int64_t pages_unmapped = 0;
  // Ranges the manager has taken at least once: range indices lie in [0, ranges_created).
  int64_t ranges_created = 0;
  // Now: token slots of virtual space reserved by ranges in use (no physical memory).
  int64_t virtual_reserved_slots() const { return ranges_in_use * range_slots; }
};

// A virtual-memory policy's pool and address space, in its own units (see VirtualMemoryStats).
struct VirtualGeometry {
  int64_t page_bytes = 0;        // memory.page_size: one page of one layer's K or V tensor
  int32_t tokens_per_page = 0;   // tokens one page holds
  int32_t num_pages = 0;         // page groups in the physical pool
  int32_t pages_per_range = 0;   // pages one range addresses (the context window's)
  int64_t ranges_total = 0;      // ranges the virtual space holds
  int64_t range_slots() const { return static_cast<int64_t>(pages_per_range) * tokens_per_page; }
};

// A prefix cache's counters since the manager was created (all 0 for a manager without one).
struct PrefixCacheStats {
  bool enabled = false;
  int32_t block_size = 0;
  int64_t cached_blocks = 0;     // now: device blocks findable by content (in use or not)
  int64_t evictable_blocks = 0;  // now: of which no sequence holds
  int64_t hit_blocks = 0;        // blocks admissions found cached
  int64_t evicted_blocks = 0;    // cached blocks given up for new allocations
};

// What a memory policy is created from: the arena and pool sizes and context window every
// policy needs (resolved by the application), and `settings`, the experiment's config, from
// which a policy reads the keys its registry entry declares (memory.block_size, ...).
struct MemoryConfig {
  std::string policy = "paged";        // registry name (memory.policy)
  int64_t capacity_slots = 0;          // device arena size in token slots (> 0)
  int64_t swap_capacity_slots = 0;     // host pool size in token slots (0: swapping fails)
  int32_t max_seq_len = 2048;          // model's context window
  // The KV layout on one GPU, for policies that size physical pages in bytes (virtual): the
  // bytes of one token's K (or V) in one layer (kv_heads / tp x head_dim x dtype bytes), and
  // the layers (0: unknown; such a policy refuses to start).
  int64_t kv_tensor_bytes_per_token = 0;
  int32_t kv_layers = 0;
  Config settings;                     // the policy's own keys (defaults when not set)
};

class KvCacheManager {
 public:
  virtual ~KvCacheManager() = default;

  virtual std::string name() const = 0;              // e.g. "paged(block_size=16)"
  virtual int64_t capacity_slots() const = 0;        // usable device slots
  virtual int64_t host_capacity_slots() const = 0;   // host swap pool slots
  virtual int64_t free_slots() const = 0;            // device slots not held by anyone

  // Could `group` (waiting, or preempted by recompute) be admitted now? kNever when it could
  // not fit even in an empty arena at its full length (prompt + output for every sample).
  virtual AllocStatus can_admit(const SequenceGroup& group) const = 0;
  // REQUIRES: can_admit(group) == kOk. Allocates slots for every unfinished sequence's
  // num_tokens() (and what a not-yet-forked group's n - 1 future samples need). A manager
  // with a prefix cache gives each sequence the cached blocks that begin it (shared, not
  // copied) and allocates only the rest; the scheduler then starts the sequence at
  // cached_prefix(seq) computed tokens.
  virtual void admit(const SequenceGroup& group) = 0;

  // Prefix caching. For a sequence admit() has just given memory: how many of its leading
  // tokens already have their KV (whole cached blocks; never all its tokens, so the step
  // that computes the rest produces logits). Managers without a cache answer 0, and so does
  // every manager for a sequence it holds no memory for.
  virtual int32_t cached_prefix(const Sequence& /*seq*/) const { return 0; }
  // The tokens admit() would find cached for `seq` (not held yet) if it ran now: what the
  // scheduler budgets prefill by. Managers without a cache answer 0.
  virtual int32_t probe_cached_prefix(const Sequence& /*seq*/) const { return 0; }
  // `seq`'s num_computed has advanced (a step computed its tokens): a prefix cache makes its
  // newly full blocks findable. Called by the scheduler after every step, for every sequence
  // that computed tokens.
  virtual void on_computed(const Sequence& /*seq*/) {}
  virtual PrefixCacheStats prefix_cache_stats() const { return {}; }
  // Virtual memory (vAttention): ranges and page mappings. Managers that map no pages answer
  // the empty stats.
  virtual VirtualMemoryStats virtual_memory_stats() const { return {}; }
  // Virtual memory: what a back end with real virtual memory mirrors (kernels/vmm_kv_arena.h).
  // The range `seq`'s device memory lies in: its range_slots token slots start at virtual slot
  // range x range_slots (-1 from managers that map no pages). REQUIRES: seq holds device memory.
  virtual int64_t virtual_range(const Sequence& /*seq*/) const { return -1; }
  // The physical page groups mapped in range `range` now, in virtual order: page i of the range
  // (its slots [i x tokens_per_page, (i + 1) x tokens_per_page)) is page group pages[i], which
  // holds physical slots [pages[i] x tokens_per_page, ...) in the arena KvCopy lists address.
  // Idle ranges keep theirs under deferred reclamation. Empty for a range never taken and from
  // managers that map no pages. Valid until the manager is next mutated.
  virtual std::span<const int32_t> virtual_range_pages(int64_t /*range*/) const { return {}; }

  // Can every unfinished running sequence of `group` get one more slot right now?
  virtual bool can_append(const SequenceGroup& group) const = 0;
  // REQUIRES: can_append(seq's group). Extends `seq` by one slot (to hold the token about to
  // be processed). Returns the copy-on-write copies this needs (device to device), if any.
  virtual std::vector<KvCopy> append_slot(const Sequence& seq) = 0;

  // `child` (a new sample of parent's group, same tokens) starts sharing parent's KV.
  // REQUIRES: parent has computed every slot it holds (the scheduler forks in
  // update_from_output, right after the step that ran the prompt's last chunk; the samples'
  // first tokens differ, so an uncomputed slot could not be shared).
  // Returns device-to-device copies where the policy cannot share (contiguous); the child's
  // slots hold its KV once they are carried out, which the Engine has the Executor do in the
  // same step (Executor::copy_within), before the next step is planned. Never fails: admit()
  // reserved what the group's samples need.
  virtual std::vector<KvCopy> fork(const Sequence& parent, const Sequence& child) = 0;

  // Frees every slot `seq` holds, on the device or in the host pool.
  virtual void release(const Sequence& seq) = 0;

  // Swap a whole group (all its unfinished sequences) to the host pool and back.
  // can_swap_out: kOk if the host pool has room, kNever if it never could, else kLater.
  virtual AllocStatus can_swap_out(const SequenceGroup& group) const = 0;
  virtual std::vector<KvCopy> swap_out(const SequenceGroup& group) = 0;  // device -> host
  virtual AllocStatus can_swap_in(const SequenceGroup& group) const = 0;
  virtual std::vector<KvCopy> swap_in(const SequenceGroup& group) = 0;   // host -> device

  // REQUIRES: seq holds device memory.
  virtual KvLayout layout(const Sequence& seq) const = 0;

  // The capacity breakdown now. `head_of_line` (may be null) is the first waiting group;
  // it defines which free gaps count as external fragmentation.
  virtual MemoryBreakdown breakdown(const SequenceGroup* head_of_line) const = 0;

  // Checks every internal invariant (reference counts, free lists, no overlap, sums);
  // throws InvariantError describing the first violation.
  virtual void audit() const = 0;
};

// What callers may ask of a memory policy without creating it.
struct MemoryPolicyTraits {
  // A short label for tables: "paged(block 16)", "contiguous(max)".
  std::function<std::string(const MemoryConfig&)> label;
  // Slots one swap transfer moves at most: a swap of n slots in one KvCopy costs
  // ceil(n / unit) transfers (paged: the block size, since blocks are scattered); 0 means one
  // transfer per KvCopy range (contiguous regions move whole). Cost models price swaps by it.
  std::function<int64_t(const MemoryConfig&)> swap_unit_slots;
  // Whether it can share KV between requests by content (memory.prefix_caching = true). The
  // application refuses prefix caching with a policy that cannot (contiguous: one region per
  // request, nothing to share); such a policy answers cached_prefix() with 0.
  bool prefix_caching = false;
  // Bytes of the physical pages it maps on demand into virtually contiguous ranges (virtual:
  // memory.page_size); 0 for a policy that maps nothing. The cost model prices its mapping
  // (backend.vmm_map_us) when it is not 0.
  std::function<int64_t(const MemoryConfig&)> vmm_page_bytes;
  // Its pool and ranges as the manager for that config will have them (empty for a policy that
  // maps nothing): what a back end with real virtual memory sizes its arena by before the
  // manager exists. Throws InputError naming the key the manager's factory would.
  std::function<VirtualGeometry(const MemoryConfig&)> vmm_geometry;
};

// A manager factory's check of the sizes it is built with: capacity_slots > 0,
// swap_capacity_slots >= 0, max_seq_len > 0; throws InputError naming the field.
void check_memory_sizes(const MemoryConfig& config);

using MemoryPolicyRegistry = Registry<KvCacheManager, MemoryConfig, MemoryPolicyTraits>;
// The process-wide registry of memory policies (filled by app/builtins.cc).
MemoryPolicyRegistry& memory_policies();

}  // namespace kvlab
