// The virtual-memory KV-cache manager (vAttention, Prabhu et al., ASPLOS'25), registered in
// memory_policies() as "virtual": each sequence's KV is virtually contiguous, in a virtual
// range reserved for the model's whole context window, and physical pages are mapped into
// the range only as its tokens arrive, so contiguous attention kernels read it unchanged
// while physical memory is committed page by page, as paging would.
//
// Pages. A physical page is memory.page_size bytes (64 KiB, 128 KiB, 256 KiB as vAttention's
// driver extension offers, or 2 MiB, the CUDA VMM granularity) in one K or V tensor of one
// layer. All layers grow together, so the manager hands out page groups: the 2 x layers pages
// that hold the same tokens_per_page = floor(page_size / (kv_heads / tp x head_dim x dtype
// bytes)) tokens in every layer (MemoryConfig::kv_tensor_bytes_per_token; docs/config.md works
// it out for llama-2-7b, llama-3-8b and opt-13b). The physical pool holds floor(capacity_slots
// x kv_tensor_bytes_per_token / page_size) groups, from the same KV budget as the other
// managers; capacity_slots() is that times tokens_per_page (less than the budget's slots when
// a page does not hold a whole number of tokens: the rest of each page is never addressable).
// Physical page id g holds slots [g x tokens_per_page, (g + 1) x tokens_per_page) of the arena.
//
// Virtual space. Each sequence (and each future sample a not-yet-forked group holds for) owns
// one range of pages_per_range = ceil(max_seq_len / tokens_per_page) pages, reserved at
// admission and given back when it lets go of its memory (finish, preemption, swap out).
// The space is finite: memory.virtual_space_gib of address space, each range costing
// 2 x layers x pages_per_range x page_size bytes, gives ranges_total ranges (vAttention
// reserves one buffer per batch slot at start-up; CUDA processes have 128 TiB, the default).
// Admission waits (kLater) while no range is free and says kNever when the group needs more
// ranges than exist or a sequence's final length exceeds a range.
//
// Behaviour, by KvCacheManager operation:
//  - admit: a range for every unfinished sequence with pages for its num_tokens() mapped,
//    and for a group that has not forked, n - 1 ranges with the prompt's pages mapped, held
//    for its future samples (so that fork never fails);
//  - append_slot: maps the next page group when the next token falls past the mapped ones,
//    plus memory.eager_alloc more while free pages last, leaving one per held sequence
//    (vAttention's eager allocation);
//  - fork: the child takes a held range and receives a copy of the parent's computed tokens,
//    one KvCopy per page (pages are not shared between ranges);
//  - release: unmaps the range's pages, or with memory.deferred_reclaim leaves them mapped in
//    the now idle range (vAttention's deferred reclamation): an admission takes the idle
//    range that best fits each sequence (the fewest pages that cover what it needs now, else
//    the most), unmaps what the sequence would not have mapped by now (past its need plus
//    memory.eager_alloc) and maps only what it lacks; a page needed while none is free is
//    unmapped from the idle range with the most pages and mapped again;
//  - swap_out / swap_in: computed tokens move page by page to a first-fit host region and
//    back; the range is given back and taken again;
//  - layout: kind paged, block_size = tokens_per_page, block_table = the range's physical
//    pages in virtual order. That is the physical truth every back end can address today;
//    a VMM back end maps these same pages at virtual_layout()'s offsets and runs the
//    contiguous kernels;
//  - breakdown: per sequence over its mapped pages, token_states = computed tokens, reserved
//    = the rest up to the true final length, internal_frag = the rest (the unused tail of
//    the last page, and pages mapped ahead past the final length); held ranges count as
//    reserved / internal_frag the same way; cached = pages left mapped in idle ranges
//    (deferred reclamation, reclaimable); external_frag = 0 (any page serves any range);
//    free = unmapped pages. The virtual space reserved is virtual_memory_stats(), not part
//    of the capacity: it costs no physical memory.
// Mapping and unmapping are counted in pages (virtual_memory_stats): page groups x 2 x
// layers, one cuMemMap / cuMemUnmap each; the simulator's cost model prices them.
//
// Thread safety: none; one Engine drives one manager.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/kv_cache_manager.h"

namespace kvlab {

// The page sizes memory.page_size accepts, in bytes.
inline constexpr int64_t kVirtualPageSizes[] = {64 << 10, 128 << 10, 256 << 10, 2 << 20};

// Parses memory.page_size: bytes ("65536") or with a binary suffix ("64KiB", "2MiB"); one of
// kVirtualPageSizes. Throws InputError naming `field` otherwise.
int64_t parse_page_size(const std::string& text, const std::string& field = "memory.page_size");
// "64KiB", "2MiB".
std::string page_size_label(int64_t bytes);

// Where a sequence's KV sits in virtual and physical memory: what a back end with real
// virtual memory maps (cuMemMap / mmap MAP_FIXED): page i of the range, at virtual slot
// range_base_slot + i x tokens_per_page, is physical page group pages[i].
struct VirtualLayout {
  int64_t range = 0;            // range index in the virtual space
  int64_t range_base_slot = 0;  // range x range_slots: the range's first virtual slot
  int64_t range_slots = 0;
  int32_t tokens_per_page = 0;
  std::vector<int32_t> pages;   // physical page groups, in virtual order
};

// The manager's settings, derived from MemoryConfig by virtual_options.
struct VirtualOptions {
  int64_t page_bytes = 0;
  int32_t tokens_per_page = 0;   // tokens one page holds per layer and K/V tensor
  int32_t num_pages = 0;         // page groups in the physical pool
  int32_t pages_per_range = 0;   // ceil(max_seq_len / tokens_per_page)
  int64_t ranges_total = 0;      // ranges the virtual space holds
  int32_t layers = 0;
  bool deferred_reclaim = false;
  int32_t eager_pages = 0;       // memory.eager_alloc
};

// The manager's settings for `config` (virtual_config.cc). Throws InputError naming the key
// (memory.page_size, memory.capacity_slots, memory.virtual_space_gib, ...) when it cannot
// be built.
VirtualOptions virtual_options(const MemoryConfig& config);
// The pool and ranges of a manager with `options` (MemoryPolicyTraits::vmm_geometry).
VirtualGeometry virtual_geometry(const VirtualOptions& options);

// REQUIRES: `options` as virtual_options derives them (all counts >= 1).
std::unique_ptr<KvCacheManager> make_virtual_manager(const MemoryConfig& config,
                                                     const VirtualOptions& options);

// Validates `config` (virtual_options) and builds the manager (virtual_config.cc).
std::unique_ptr<KvCacheManager> make_virtual_kv_cache_manager(const MemoryConfig& config);

// Tokens one page holds for `config`'s KV layout (0 when the layout is unknown), and the
// page size it reads (memory.page_size).
int32_t virtual_tokens_per_page(const MemoryConfig& config);

// REQUIRES: `kv` was made by make_virtual_kv_cache_manager and holds `seq` on the device.
VirtualLayout virtual_layout(const KvCacheManager& kv, const Sequence& seq);

// Registers "virtual" (its keys memory.page_size, memory.deferred_reclaim,
// memory.eager_alloc, memory.virtual_space_gib, memory.overlap_mapping, and its traits, among
// them vmm_geometry: virtual_geometry(virtual_options(config))).
void register_virtual(MemoryPolicyRegistry& registry);

}  // namespace kvlab
