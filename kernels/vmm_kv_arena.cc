#include "kernels/vmm_kv_arena.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "core/errors.h"
#include "kernels/cpu/kv_quant.h"

namespace kvlab {

namespace {

// Checks the arguments before anything is mapped; returns the real page size.
size_t checked_page_bytes(const VirtualGeometry& g, int32_t num_layers, int32_t num_kv_heads,
                          int32_t head_dim, KvDtype dtype) {
  if (g.tokens_per_page <= 0 || g.num_pages <= 0 || g.pages_per_range <= 0 ||
      g.ranges_total <= 0 || num_layers <= 0 || num_kv_heads <= 0 || head_dim <= 0) {
    throw std::invalid_argument("VmmKvArena: every size must be positive");
  }
  if (kv_dtype_scaled(cpu::cpu_kv_storage(dtype))) {
    throw std::invalid_argument("VmmKvArena: " + kv_dtype_name(dtype) +
                                " keeps per-slot scales, which have no pages");
  }
  const int64_t bytes = VmmKvArena::real_page_bytes(g, num_kv_heads, head_dim, dtype);
  if (bytes % static_cast<int64_t>(os_page_size()) != 0) {
    throw std::invalid_argument("VmmKvArena: a real page of " + std::to_string(bytes) +
                                " bytes is not a multiple of the OS page size (" +
                                std::to_string(os_page_size()) + ")");
  }
  return static_cast<size_t>(bytes);
}

}  // namespace

int64_t VmmKvArena::real_page_bytes(const VirtualGeometry& g, int32_t num_kv_heads,
                                    int32_t head_dim, KvDtype dtype) {
  const KvDtype stored = cpu::cpu_kv_storage(dtype);
  return static_cast<int64_t>(g.tokens_per_page) * num_kv_heads * head_dim *
         kv_element_bytes(stored, 4);
}

VmmKvArena::VmmKvArena(const VirtualGeometry& geometry, int32_t num_layers,
                       int32_t num_kv_heads, int32_t head_dim, KvDtype dtype)
    : page_bytes_(checked_page_bytes(geometry, num_layers, num_kv_heads, head_dim, dtype)),
      pages_(geometry, num_layers),
      pool_(page_bytes_, static_cast<size_t>(pages_.pool_pages())),
      physical_(pool_.size_bytes()),
      virtual_(static_cast<size_t>(pages_.reserved_pages()) * page_bytes_),
      // K in the first half of each, V in the second.
      physical_cache_(cpu::CpuKvCache::borrowing(
          physical_.data(), physical_.data() + physical_.size_bytes() / 2, num_layers,
          pages_.physical_slots(), num_kv_heads, head_dim, dtype)),
      virtual_cache_(cpu::CpuKvCache::borrowing(
          virtual_.data(), virtual_.data() + virtual_.size_bytes() / 2, num_layers,
          pages_.virtual_slots(), num_kv_heads, head_dim, dtype)) {
  physical_.map(0, pool_, 0, pool_.num_pages());
}

size_t VmmKvArena::virtual_offset(int32_t tensor, int32_t layer, int64_t range,
                                  int64_t page) const {
  return static_cast<size_t>(pages_.virtual_page(tensor, layer, range, page)) * page_bytes_;
}

void VmmKvArena::map_group(int64_t range, int64_t page, int32_t group) {
  for (int32_t tensor = 0; tensor < 2; ++tensor) {
    for (int32_t layer = 0; layer < pages_.layers(); ++layer) {
      virtual_.map(virtual_offset(tensor, layer, range, page), pool_,
                   static_cast<size_t>(pages_.pool_page(tensor, layer, group)));
    }
  }
}

void VmmKvArena::unmap_page(int64_t range, int64_t page) {
  for (int32_t tensor = 0; tensor < 2; ++tensor) {
    for (int32_t layer = 0; layer < pages_.layers(); ++layer) {
      virtual_.unmap(virtual_offset(tensor, layer, range, page), page_bytes_, page_bytes_);
    }
  }
}

void VmmKvArena::mirror(const KvCacheManager& kv) {
  // mmap MAP_FIXED replaces what was mapped there: no unmap before a remap.
  pages_.mirror(
      kv, "VmmKvArena",
      [this](int64_t range, int64_t page, int32_t group) { map_group(range, page, group); },
      [this](int64_t range, int64_t page) { unmap_page(range, page); });
}

}  // namespace kvlab
