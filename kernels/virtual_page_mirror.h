// VirtualPageMirror: the bookkeeping every KV arena with real virtual memory shares (the cpu
// back end's mmap/memfd arena, kernels/vmm_kv_arena.h, and the cuda back end's driver-API
// arena, kernels/cuda/vmm_kv_arena.h): where each page of each range lies in the arena's one
// address-space reservation, where each physical page lies in its pool, and which page
// group each range maps now, so that mirror() turns a virtual-memory manager's page tables
// into the fewest map and unmap calls.
//
// Layout (in pages of one layer's K or V; the arena multiplies by its real page bytes):
//  - the pool: for K then V, for each layer, page group g at (tensor x layers + layer) x
//    num_pages + g (so the pool read in order is the physical arena the manager's slot
//    indices address: slot = g x tokens_per_page + i);
//  - the reservation: for K then V, for each layer, `ranges()` ranges of pages_per_range pages:
//    page p of range r at ((tensor x layers + layer) x ranges + r) x pages_per_range + p, so
//    range r starts at virtual slot r x range_slots in every layer's K and V, as the manager's
//    VirtualLayout says, and the contiguous layout {base_slot = r x range_slots,
//    reserved_slots = range_slots} addresses it.
//
// Thread safety: none.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "core/experiment.h"
#include "core/kv_cache_manager.h"

namespace kvlab {

// The pages and ranges of `config`'s memory policy when it maps pages on demand (its
// vmm_geometry trait: memory.policy = virtual), else nothing: what a back end with real
// virtual memory sizes its arena by. Throws InputError as the policy's factory would.
std::optional<VirtualGeometry> virtual_geometry_of(const ExperimentConfig& config);

class VirtualPageMirror {
 public:
  // Ranges an arena reserves: every range the manager can hold at once. Each range in use
  // maps at least one page group, and the manager takes a fresh range only when none is
  // idle, so it never takes more than min(ranges_total, num_pages).
  static int64_t ranges_needed(const VirtualGeometry& g);

  // REQUIRES (checked, std::invalid_argument): every count positive.
  VirtualPageMirror(const VirtualGeometry& geometry, int32_t num_layers);

  const VirtualGeometry& geometry() const { return g_; }
  int32_t layers() const { return layers_; }
  int64_t ranges() const { return ranges_; }
  // Pages in the pool and in the reservation (2 x layers x num_pages, 2 x layers x ranges x
  // pages_per_range).
  int64_t pool_pages() const;
  int64_t reserved_pages() const;
  // Token slots of the ranges (ranges x range_slots) and of the pool (num_pages x tokens_per_page).
  int64_t virtual_slots() const { return ranges_ * g_.range_slots(); }
  int64_t physical_slots() const { return static_cast<int64_t>(g_.num_pages) * g_.tokens_per_page; }

  // Page indices (see the header comment); tensor 0 is K, 1 is V.
  int64_t virtual_page(int32_t tensor, int32_t layer, int64_t range, int64_t page) const;
  int64_t pool_page(int32_t tensor, int32_t layer, int32_t group) const;

  // Where range `range`'s tokens are: contiguous at range x range_slots.
  // REQUIRES (checked, InvariantError): 0 <= range < ranges().
  KvLayout layout(int64_t range) const;

  // Called per page group to map (page `page` of range `range` shows group `group`, in every
  // layer's K and V) and to unmap.
  using MapGroup = std::function<void(int64_t range, int64_t page, int32_t group)>;
  using UnmapPage = std::function<void(int64_t range, int64_t page)>;
  // Makes what is mapped equal `kv`'s page tables: for every range it has taken, page i maps
  // group pages[i] (map_group only where that changed: mapping replaces what was there) and
  // pages past what the range holds now are unmapped. While the calls run, mapped(range) is
  // still what was mapped before (an arena whose map cannot replace a mapping, as cuMemMap
  // cannot, unmaps first). `what` names the arena in errors.
  // REQUIRES (checked, InvariantError): `kv` maps pages with this geometry and has taken at
  // most ranges() ranges.
  void mirror(const KvCacheManager& kv, const char* what, const MapGroup& map_group,
              const UnmapPage& unmap_page);

  // The page groups range `range` maps now (as of the last mirror()).
  const std::vector<int32_t>& mapped(int64_t range) const {
    return mapped_[static_cast<size_t>(range)];
  }

 private:
  VirtualGeometry g_;
  int32_t layers_;
  int64_t ranges_;
  std::vector<std::vector<int32_t>> mapped_;  // per range: the page groups mapped now
};

}  // namespace kvlab
