// RegionAllocator: hands out contiguous ranges of slots ("regions") over a real address range
// [0, capacity), the placement machinery beneath the contiguous KV-cache manager. Because a
// region is a real interval, what is left between regions is a real gap, and a request that
// fits in no gap cannot be placed even when the free slots add up: that is what makes the
// contiguous manager's external fragmentation honest.
//
// Placements:
//  - first-fit: the lowest-addressed free gap that is large enough; the region takes its low
//    end. O(number of free gaps) per allocation.
//  - best-fit: the smallest free gap that is large enough, ties broken by the lowest address;
//    the region takes its low end. O(log gaps).
//  - buddy: a request rounds up to a power of two (the rounding is held by the region, so it
//    shows up as internal fragmentation), and is carved from the smallest free power-of-two
//    block that holds it (lowest address among equals), splitting it in halves; a released
//    block coalesces with its buddy as far as possible. A capacity that is not a power of two
//    is covered by several top-level buddy trees from its binary decomposition, largest first
//    (capacity 100 = trees of 64 at 0, 32 at 64 and 4 at 96); a block never spans two trees,
//    so the largest request that can ever be placed is the largest tree. O(log capacity).
// Released regions coalesce with neighbouring free space (adjacent gaps merge; buddies merge).
//
// Dry runs: can_place() answers whether a list of requests, allocated one after another in
// that order, would all succeed now, without mutating anything; can_place_when_empty() asks
// the same of an empty allocator of this capacity (an admission's "never").
//
// Thread safety: none.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/kv_cache_manager.h"

namespace kvlab {

enum class Placement { kFirstFit, kBestFit, kBuddy };

// "first-fit" | "best-fit" | "buddy".
const char* to_string(Placement placement);
// Parses a placement name; throws InputError naming `field` and listing the valid values.
Placement parse_placement(const std::string& name, const std::string& field = "memory.placement");

// The slots [offset, offset + size) of the address range.
struct Region {
  int64_t offset = 0;
  int64_t size = 0;
  int64_t end() const { return offset + size; }
  friend bool operator==(const Region&, const Region&) = default;
};

class RegionAllocator {
 public:
  // REQUIRES: capacity >= 0 (0: nothing can ever be placed).
  static std::unique_ptr<RegionAllocator> create(int64_t capacity, Placement placement);
  virtual ~RegionAllocator() = default;

  virtual Placement placement() const = 0;
  int64_t capacity() const { return capacity_; }
  // Slots in no region.
  virtual int64_t free_slots() const = 0;
  virtual int64_t num_regions() const = 0;

  // Slots a region placed for a request of `size` slots holds: `size`, or for buddy the next
  // power of two. REQUIRES: size >= 1.
  virtual int64_t rounded_size(int64_t size) const = 0;
  // The largest request an empty allocator could place: capacity, or the largest buddy tree.
  virtual int64_t largest_placeable() const = 0;

  // Places a region for `size` slots (holding rounded_size(size)), or nullopt when no free
  // space can hold it now. REQUIRES: size >= 1.
  virtual std::optional<Region> allocate(int64_t size) = 0;
  // Frees the region starting at `offset`. REQUIRES: a region starts there.
  virtual void release(int64_t offset) = 0;
  // The region starting at `offset`, if one does.
  virtual std::optional<Region> region_at(int64_t offset) const = 0;

  // Could the region at `offset` grow in place (without moving) to hold `new_size` slots?
  // First/best-fit: the free gap right after it must hold the extra slots. Buddy: the region
  // must be the lower buddy of free buddies all the way up to the power of two holding
  // `new_size`. True when the region already holds new_size. REQUIRES: a region starts there.
  virtual bool can_grow(int64_t offset, int64_t new_size) const = 0;
  // REQUIRES: can_grow(offset, new_size). Returns the grown region.
  virtual Region grow(int64_t offset, int64_t new_size) = 0;

  // Would allocate(sizes[0]), allocate(sizes[1]), ... all succeed now? Does not mutate.
  // O(k * gaps) for first/best-fit, O(k * log capacity) for buddy.
  virtual bool can_place(std::span<const int64_t> sizes) const = 0;
  // The same question asked of an empty allocator of this capacity and placement.
  virtual bool can_place_when_empty(std::span<const int64_t> sizes) const = 0;

  // Calls `visit` on each free gap in address order. A gap is a maximal free range for
  // first/best-fit, and a free block for buddy (two adjacent free blocks that are not buddies
  // are two gaps: no single request can span them).
  virtual void for_each_free_gap(const std::function<void(const Region&)>& visit) const = 0;
  std::vector<Region> free_gaps() const;
  // Every region in address order (tests, audits).
  virtual std::vector<Region> regions() const = 0;

  // Checks that regions and gaps tile [0, capacity) without overlap, that no two gaps could
  // have been coalesced, that buddy blocks are aligned powers of two inside their trees, and
  // that the counters match; throws InvariantError describing the first violation.
  virtual void audit() const = 0;

 protected:
  explicit RegionAllocator(int64_t capacity) : capacity_(capacity) {}

 private:
  int64_t capacity_;
};

// A managers' admission answer for regions of `sizes` now, and `full_sizes` (what they grow
// to) ever: kNever when an empty allocator could not place full_sizes, kLater when `sizes`
// do not fit now, else kOk.
AllocStatus placement_status(const RegionAllocator& allocator, std::span<const int64_t> sizes,
                             std::span<const int64_t> full_sizes);

}  // namespace kvlab
