// VmmKvArena: the cpu back end's KV arena under a memory policy that maps physical pages into
// virtually contiguous ranges (memory.policy = virtual, vAttention): real virtual memory
// (kernels/host_virtual_memory.h) that mirrors the manager's page tables, so each sequence's
// KV is virtually contiguous and the contiguous attention kernels read it unchanged.
//
// Real pages. The manager's page (memory.page_size bytes of one layer's K or V, in the
// model's dtype) holds tokens_per_page tokens (VirtualGeometry; docs/config.md works the
// arithmetic out). The arena stores K and V as the cpu back end does (memory.kv_dtype; auto:
// fp32), so its real page is tokens_per_page x kv_heads x head_dim x stored element bytes:
// memory.page_size when the dtypes agree and the page holds a whole number of tokens (twice it
// for an fp16 model stored in fp32). The kernel maps whole OS pages, so the real page must be
// a multiple of os_page_size() (real_page_bytes; the executor refuses memory.page_size
// otherwise), and the scaled dtypes (fp8_e4m3, int8), whose per-slot scales have no pages,
// are refused.
//
// Memory:
//  - the pool: one memfd of 2 x layers x num_pages real pages: for K then V, for each layer,
//    page group g's page at index (tensor x layers + layer) x num_pages + g;
//  - physical(): the whole pool mapped once, in order: exactly the arena layout the other
//    managers' slot indices address (slot = g x tokens_per_page + i), so the manager's KvCopy
//    lists (swap out, swap in, fork copies, all in physical slots) are carried out as for any
//    manager;
//  - virtual_cache(): one address-space reservation (mmap PROT_NONE) for `ranges` ranges of
//    pages_per_range pages in every layer's K and V: per layer [range][token slot], so range r
//    starts at virtual slot r x range_slots, as the manager's VirtualLayout says, and the
//    contiguous layout {base_slot = r x range_slots, reserved_slots = range_slots} addresses
//    it (vAttention reserves one virtual tensor per layer and K/V of batch slots x max length
//    at start-up, too). Reserved address space costs no memory. The page arithmetic and the
//    page-table diff are VirtualPageMirror's (kernels/virtual_page_mirror.h), which the cuda
//    back end's arena shares.
//
// mirror(kv) makes the real mappings equal the manager's page tables: for every range it has
// taken, page i of the range maps pool page group pages[i] in each layer's K and V (one mmap
// MAP_FIXED | MAP_SHARED per page per tensor, as cuMemMap is one call per page), and pages past
// what the range holds now are unmapped (one mmap PROT_NONE MAP_FIXED each). A page group the
// manager moved from one range to another really moves: its bytes stay in the memfd.
//
// Thread safety: none.
#pragma once

#include <cstdint>
#include <vector>

#include "core/kv_cache_manager.h"
#include "core/kv_dtype.h"
#include "kernels/cpu/kv_cache.h"
#include "kernels/host_virtual_memory.h"
#include "kernels/virtual_page_mirror.h"

namespace kvlab {

class VmmKvArena {
 public:
  // Bytes of one real page (one layer's K or V for tokens_per_page tokens, as stored).
  static int64_t real_page_bytes(const VirtualGeometry& g, int32_t num_kv_heads,
                                 int32_t head_dim, KvDtype dtype);
  // Ranges the arena reserves (VirtualPageMirror::ranges_needed).
  static int64_t ranges_needed(const VirtualGeometry& g) {
    return VirtualPageMirror::ranges_needed(g);
  }

  // REQUIRES (checked, std::invalid_argument): `dtype` unscaled; real_page_bytes a multiple
  // of os_page_size(); all counts positive. Throws std::system_error when memfd_create or the
  // reservation fails.
  VmmKvArena(const VirtualGeometry& geometry, int32_t num_layers, int32_t num_kv_heads,
             int32_t head_dim, KvDtype dtype);

  // The pool in physical slot order (capacity num_pages x tokens_per_page slots).
  cpu::CpuKvCache& physical() { return physical_cache_; }
  // The ranges (ranges() x range_slots virtual slots); only mapped pages may be touched.
  cpu::CpuKvCache& virtual_cache() { return virtual_cache_; }

  // Where range `range`'s tokens are in virtual_cache(): contiguous at range x range_slots.
  KvLayout layout(int64_t range) const { return pages_.layout(range); }

  // Makes the real mappings equal `kv`'s page tables (see the header comment).
  // REQUIRES (checked, InvariantError): `kv` maps pages with this arena's geometry and has
  // taken at most ranges() ranges.
  void mirror(const KvCacheManager& kv);

  int64_t ranges() const { return pages_.ranges(); }
  // Address space reserved for the ranges, in bytes (no memory).
  int64_t reserved_bytes() const { return static_cast<int64_t>(virtual_.size_bytes()); }
  // The mapping calls mirror() has made (the reservation's own mmap included).
  const VmmCallCounters& counters() const { return virtual_.counters(); }

 private:
  void map_group(int64_t range, int64_t page, int32_t group);
  void unmap_page(int64_t range, int64_t page);
  size_t virtual_offset(int32_t tensor, int32_t layer, int64_t range, int64_t page) const;

  size_t page_bytes_;  // real (checked first)
  VirtualPageMirror pages_;
  MemfdPagePool pool_;
  VirtualReservation physical_;
  VirtualReservation virtual_;
  cpu::CpuKvCache physical_cache_;
  cpu::CpuKvCache virtual_cache_;
};

}  // namespace kvlab
