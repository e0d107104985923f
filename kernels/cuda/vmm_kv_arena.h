// CudaVmmKvArena: the cuda back end's KV arena under a memory policy that maps physical pages
// into virtually contiguous ranges (memory.policy = virtual, vAttention), over the CUDA
// driver's VMM API (device_virtual_memory.h): the cpu back end's VmmKvArena
// (kernels/vmm_kv_arena.h) on a GPU, with the same layout and the same page-table diff
// (VirtualPageMirror, kernels/virtual_page_mirror.h), so the contiguous decode and prefill
// kernels run unchanged on each sequence's virtually contiguous range.
//
// Real pages. The manager's page (memory.page_size bytes of one layer's K or V in the model's
// KV dtype) holds tokens_per_page tokens; this back end stores K and V in backend.dtype, so a
// real page is tokens_per_page x kv_heads x head_dim x dtype bytes (real_page_bytes: twice
// memory.page_size for an fp16 model run in fp32). The driver maps whole allocations of a
// multiple of the device's granularity (cuMemGetAllocationGranularity, 2 MiB on the GPUs we
// know), so a real page that is not a multiple of it is refused (page_size_refusal; the
// executor names memory.page_size): on such a GPU the 64, 128 and 256 KiB pages vAttention
// gets from its own driver extension cannot be had from the public API.
//
// Memory:
//  - the pool: 2 x layers x num_pages real pages, one cuMemCreate each (a page mapped into a
//    range must be an allocation of its own: cuMemMap maps from an allocation's start);
//  - physical(): a second reservation with every pool page mapped once, in pool order: the
//    arena in physical slot order (slot = g x tokens_per_page + i) the manager's KvCopy
//    lists (swap out, swap in, fork copies) address, carried out by the ordinary copy
//    kernels and DMAs. The driver lets one allocation be mapped at several addresses, so the
//    pages a range maps are also always reachable here; zeroed at construction;
//  - virtual_cache(): one reservation of `ranges` ranges x pages_per_range pages in every
//    layer's K and V (VirtualPageMirror's layout): range r at virtual slot r x range_slots.
//
// mirror(kv) makes the ranges' mappings equal the manager's page tables: a page whose group
// changed is unmapped (cuMemMap cannot replace a mapping) and the new group mapped
// (cuMemMap + cuMemSetAccess) in every layer's K and V; pages a range no longer holds are
// unmapped (cuMemUnmap). counters() counts those calls and their time (the reservation's
// own cuMemAddressReserve included; the physical view's start-up mappings are not).
//
// REQUIRES of the caller: no kernel reads the ranges while mirror() runs (the executor mirrors
// between steps, after the previous step's synchronize). Thread safety: none.
#pragma once

#include <cstdint>
#include <string>

#include "core/kv_cache_manager.h"
#include "kernels/cuda/device_virtual_memory.h"
#include "kernels/cuda/dtype.h"
#include "kernels/cuda/kv_cache.h"
#include "kernels/virtual_page_mirror.h"

namespace kvlab::cuda {

class CudaVmmKvArena {
 public:
  // Bytes of one real page (one layer's K or V for tokens_per_page tokens in `dtype`).
  static int64_t real_page_bytes(const VirtualGeometry& g, int32_t num_kv_heads, int32_t head_dim,
                                 DType dtype);
  // "" when a real page is a positive multiple of `granularity`, else why not, with the
  // arithmetic (tokens, bytes, the granularity) and the page sizes that would work. Pure: no
  // device needed.
  static std::string page_size_refusal(const VirtualGeometry& g, int32_t num_kv_heads,
                                       int32_t head_dim, DType dtype, size_t granularity);

  // REQUIRES (checked, std::invalid_argument): page_size_refusal(...) empty for `device`'s
  // granularity; all counts positive. Throws CudaError when the driver refuses (no VMM
  // support, out of device memory or address space).
  CudaVmmKvArena(const VirtualGeometry& geometry, int32_t num_layers, int32_t num_kv_heads,
                 int32_t head_dim, DType dtype, int32_t device);

  // The pool in physical slot order (num_pages x tokens_per_page slots).
  CudaKvCache& physical() { return physical_cache_; }
  // The ranges (ranges() x range_slots virtual slots); only mapped pages may be touched.
  CudaKvCache& virtual_cache() { return virtual_cache_; }

  KvLayout layout(int64_t range) const { return pages_.layout(range); }

  // Makes the real mappings equal `kv`'s page tables (see the header comment).
  // REQUIRES (checked, InvariantError): `kv` maps pages with this arena's geometry and has
  // taken at most ranges() ranges.
  void mirror(const KvCacheManager& kv);

  int64_t ranges() const { return pages_.ranges(); }
  int64_t page_bytes() const { return static_cast<int64_t>(page_bytes_); }
  // Device address space reserved for the ranges, in bytes (no memory).
  int64_t reserved_bytes() const { return static_cast<int64_t>(virtual_.size_bytes()); }
  // The calls mirror() has made on the ranges, with their host time.
  const VmmCallCounters& counters() const { return virtual_.counters(); }
  // Whether reservation page `page` of tensor / layer / range is mapped now (for tests).
  bool is_mapped(int32_t tensor, int32_t layer, int64_t range, int64_t page) const;

 private:
  void map_group(int64_t range, int64_t page, int32_t group);
  void unmap_page(int64_t range, int64_t page);

  size_t page_bytes_;  // real (checked first)
  VirtualPageMirror pages_;
  DevicePagePool pool_;
  DeviceReservation physical_;
  DeviceReservation virtual_;
  CudaKvCache physical_cache_;
  CudaKvCache virtual_cache_;
};

}  // namespace kvlab::cuda
