#include "kernels/virtual_page_mirror.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "core/errors.h"

namespace kvlab {

std::optional<VirtualGeometry> virtual_geometry_of(const ExperimentConfig& config) {
  const auto& geometry_of = memory_policies().entry(config.memory.policy).traits.vmm_geometry;
  if (!geometry_of) return std::nullopt;
  return geometry_of(config.memory);
}

int64_t VirtualPageMirror::ranges_needed(const VirtualGeometry& g) {
  return std::min<int64_t>(g.ranges_total, g.num_pages);
}

VirtualPageMirror::VirtualPageMirror(const VirtualGeometry& geometry, int32_t num_layers)
    : g_(geometry), layers_(num_layers), ranges_(ranges_needed(geometry)) {
  if (g_.tokens_per_page <= 0 || g_.num_pages <= 0 || g_.pages_per_range <= 0 ||
      g_.ranges_total <= 0 || num_layers <= 0) {
    throw std::invalid_argument("VirtualPageMirror: every size must be positive");
  }
  mapped_.resize(static_cast<size_t>(ranges_));
}

int64_t VirtualPageMirror::pool_pages() const {
  return 2 * static_cast<int64_t>(layers_) * g_.num_pages;
}

int64_t VirtualPageMirror::reserved_pages() const {
  return 2 * static_cast<int64_t>(layers_) * ranges_ * g_.pages_per_range;
}

int64_t VirtualPageMirror::virtual_page(int32_t tensor, int32_t layer, int64_t range,
                                        int64_t page) const {
  return ((static_cast<int64_t>(tensor) * layers_ + layer) * ranges_ + range) * g_.pages_per_range +
         page;
}

int64_t VirtualPageMirror::pool_page(int32_t tensor, int32_t layer, int32_t group) const {
  return (static_cast<int64_t>(tensor) * layers_ + layer) * g_.num_pages + group;
}

KvLayout VirtualPageMirror::layout(int64_t range) const {
  check_invariant(range >= 0 && range < ranges_, "virtual memory arena: range " +
                                                     std::to_string(range) + " outside the " +
                                                     std::to_string(ranges_) + " reserved");
  KvLayout out;
  out.kind = KvLayout::Kind::kContiguous;
  out.base_slot = range * g_.range_slots();
  out.reserved_slots = g_.range_slots();
  return out;
}

void VirtualPageMirror::mirror(const KvCacheManager& kv, const char* what,
                               const MapGroup& map_group, const UnmapPage& unmap_page) {
  const std::string arena = what;
  const VirtualMemoryStats s = kv.virtual_memory_stats();
  check_invariant(s.enabled && s.tokens_per_page == g_.tokens_per_page &&
                      s.range_slots == g_.range_slots() && s.page_bytes == g_.page_bytes,
                  arena + ": " + kv.name() + " does not map pages of this arena's geometry");
  check_invariant(s.ranges_created <= ranges_,
                  arena + ": " + kv.name() + " took " + std::to_string(s.ranges_created) +
                      " ranges, more than the " + std::to_string(ranges_) + " reserved");
  for (int64_t r = 0; r < s.ranges_created; ++r) {
    const std::span<const int32_t> pages = kv.virtual_range_pages(r);
    std::vector<int32_t>& mapped = mapped_[static_cast<size_t>(r)];
    check_invariant(static_cast<int64_t>(pages.size()) <= g_.pages_per_range,
                    arena + ": range " + std::to_string(r) + " maps more pages than it holds");
    for (size_t i = 0; i < pages.size(); ++i) {
      check_invariant(pages[i] >= 0 && pages[i] < g_.num_pages,
                      arena + ": page group " + std::to_string(pages[i]) + " outside the pool");
      if (i < mapped.size() && mapped[i] == pages[i]) continue;
      map_group(r, static_cast<int64_t>(i), pages[i]);
    }
    for (size_t i = pages.size(); i < mapped.size(); ++i) unmap_page(r, static_cast<int64_t>(i));
    mapped.assign(pages.begin(), pages.end());
  }
}

}  // namespace kvlab
