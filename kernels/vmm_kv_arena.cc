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

int64_t VmmKvArena::ranges_needed(const VirtualGeometry& g) {
  return std::min<int64_t>(g.ranges_total, g.num_pages);
}

VmmKvArena::VmmKvArena(const VirtualGeometry& geometry, int32_t num_layers,
                       int32_t num_kv_heads, int32_t head_dim, KvDtype dtype)
    : g_(geometry),
      layers_(num_layers),
      ranges_(ranges_needed(geometry)),
      page_bytes_(checked_page_bytes(geometry, num_layers, num_kv_heads, head_dim, dtype)),
      pool_(page_bytes_, 2 * static_cast<size_t>(num_layers) * static_cast<size_t>(g_.num_pages)),
      physical_(pool_.size_bytes()),
      virtual_(2 * static_cast<size_t>(num_layers) * static_cast<size_t>(ranges_) *
               static_cast<size_t>(g_.pages_per_range) * page_bytes_),
      // K in the first half of each, V in the second.
      physical_cache_(cpu::CpuKvCache::borrowing(
          physical_.data(), physical_.data() + physical_.size_bytes() / 2, num_layers,
          static_cast<int64_t>(g_.num_pages) * g_.tokens_per_page, num_kv_heads, head_dim,
          dtype)),
      virtual_cache_(cpu::CpuKvCache::borrowing(
          virtual_.data(), virtual_.data() + virtual_.size_bytes() / 2, num_layers,
          ranges_ * g_.range_slots(), num_kv_heads, head_dim, dtype)),
      mapped_(static_cast<size_t>(ranges_)) {
  physical_.map(0, pool_, 0, pool_.num_pages());
}

KvLayout VmmKvArena::layout(int64_t range) const {
  check_invariant(range >= 0 && range < ranges_,
                  "VmmKvArena: range " + std::to_string(range) + " outside the " +
                      std::to_string(ranges_) + " reserved");
  KvLayout out;
  out.kind = KvLayout::Kind::kContiguous;
  out.base_slot = range * g_.range_slots();
  out.reserved_slots = g_.range_slots();
  return out;
}

size_t VmmKvArena::virtual_offset(int32_t tensor, int32_t layer, int64_t range,
                                  int64_t page) const {
  const int64_t index =
      ((static_cast<int64_t>(tensor) * layers_ + layer) * ranges_ + range) * g_.pages_per_range +
      page;
  return static_cast<size_t>(index) * page_bytes_;
}

void VmmKvArena::map_group(int64_t range, int64_t page, int32_t group) {
  for (int32_t tensor = 0; tensor < 2; ++tensor) {
    for (int32_t layer = 0; layer < layers_; ++layer) {
      const size_t pool_page =
          static_cast<size_t>((tensor * layers_ + layer)) * static_cast<size_t>(g_.num_pages) +
          static_cast<size_t>(group);
      virtual_.map(virtual_offset(tensor, layer, range, page), pool_, pool_page);
    }
  }
}

void VmmKvArena::unmap_page(int64_t range, int64_t page) {
  for (int32_t tensor = 0; tensor < 2; ++tensor) {
    for (int32_t layer = 0; layer < layers_; ++layer) {
      virtual_.unmap(virtual_offset(tensor, layer, range, page), page_bytes_, page_bytes_);
    }
  }
}

void VmmKvArena::mirror(const KvCacheManager& kv) {
  const VirtualMemoryStats s = kv.virtual_memory_stats();
  check_invariant(s.enabled && s.tokens_per_page == g_.tokens_per_page &&
                      s.range_slots == g_.range_slots() && s.page_bytes == g_.page_bytes,
                  "VmmKvArena: " + kv.name() + " does not map pages of this arena's geometry");
  check_invariant(s.ranges_created <= ranges_,
                  "VmmKvArena: " + kv.name() + " took " + std::to_string(s.ranges_created) +
                      " ranges, more than the " + std::to_string(ranges_) + " reserved");
  for (int64_t r = 0; r < s.ranges_created; ++r) {
    const std::span<const int32_t> pages = kv.virtual_range_pages(r);
    std::vector<int32_t>& mapped = mapped_[static_cast<size_t>(r)];
    check_invariant(static_cast<int64_t>(pages.size()) <= g_.pages_per_range,
                    "VmmKvArena: range " + std::to_string(r) + " maps more pages than it holds");
    for (size_t i = 0; i < pages.size(); ++i) {
      check_invariant(pages[i] >= 0 && pages[i] < g_.num_pages,
                      "VmmKvArena: page group " + std::to_string(pages[i]) + " outside the pool");
      if (i < mapped.size() && mapped[i] == pages[i]) continue;
      map_group(r, static_cast<int64_t>(i), pages[i]);  // MAP_FIXED replaces what was there
    }
    for (size_t i = pages.size(); i < mapped.size(); ++i) unmap_page(r, static_cast<int64_t>(i));
    mapped.assign(pages.begin(), pages.end());
  }
}

}  // namespace kvlab
