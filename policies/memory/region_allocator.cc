#include "policies/memory/region_allocator.h"

#include <algorithm>
#include <bit>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include "core/errors.h"

namespace kvlab {

const char* to_string(Placement placement) {
  switch (placement) {
    case Placement::kFirstFit:
      return "first-fit";
    case Placement::kBestFit:
      return "best-fit";
    case Placement::kBuddy:
      return "buddy";
  }
  return "?";
}

Placement parse_placement(const std::string& name, const std::string& field) {
  for (Placement p : {Placement::kFirstFit, Placement::kBestFit, Placement::kBuddy}) {
    if (name == to_string(p)) return p;
  }
  throw InputError("", 0, field,
                   "unknown placement '" + name + "' (valid: first-fit, best-fit, buddy)");
}

std::vector<Region> RegionAllocator::free_gaps() const {
  std::vector<Region> gaps;
  for_each_free_gap([&](const Region& gap) { gaps.push_back(gap); });
  return gaps;
}

namespace {

void require_positive(int64_t size, const char* what) {
  check_invariant_lazy(size >= 1, [&] {
    return std::string(what) + ": a request needs at least one slot, got " + std::to_string(size);
  });
}

// One entry of the address-ordered tiling that audits walk.
struct Piece {
  Region region;
  bool free = false;
};

// Merges the address-ordered maps (offset -> size or order) of held regions and free space
// into one address-ordered list, in O(n).
template <typename HeldMap, typename FreeMap, typename SizeOf>
std::vector<Piece> merge_pieces(const HeldMap& held, const FreeMap& free, SizeOf size_of) {
  std::vector<Piece> out;
  out.reserve(held.size() + free.size());
  auto h = held.begin();
  auto f = free.begin();
  while (h != held.end() || f != free.end()) {
    if (h == held.end() || (f != free.end() && f->first < h->first)) {
      out.push_back({Region{f->first, size_of(f->second)}, true});
      ++f;
    } else {
      out.push_back({Region{h->first, size_of(h->second)}, false});
      ++h;
    }
  }
  return out;
}

// Checks that `pieces` (sorted by offset) tile [0, capacity) exactly.
void check_tiling(const std::vector<Piece>& pieces, int64_t capacity, const char* who) {
  int64_t cursor = 0;
  for (const Piece& p : pieces) {
    auto where = [&] {
      return std::string(who) + ": " + (p.free ? "gap" : "region") + " [" +
             std::to_string(p.region.offset) + ", " + std::to_string(p.region.end()) + ")";
    };
    check_invariant_lazy(p.region.size >= 1, [&] { return where() + " is empty"; });
    check_invariant_lazy(p.region.offset >= cursor, [&] { return where() + " overlaps what precedes it"; });
    check_invariant_lazy(p.region.offset == cursor, [&] {
      return where() + " leaves slots from " + std::to_string(cursor) + " neither free nor held";
    });
    cursor = p.region.end();
  }
  check_invariant_lazy(cursor == capacity, [&] {
    return std::string(who) + ": pieces cover [0, " + std::to_string(cursor) +
           ") but capacity is " + std::to_string(capacity);
  });
}

// ---------------------------------------------------------------------------------------------
// First-fit and best-fit over maximal free gaps.
class GapAllocator final : public RegionAllocator {
 public:
  GapAllocator(int64_t capacity, Placement placement)
      : RegionAllocator(capacity), placement_(placement), free_slots_(capacity) {
    if (capacity > 0) add_gap(0, capacity);
  }

  Placement placement() const override { return placement_; }
  int64_t free_slots() const override { return free_slots_; }
  int64_t num_regions() const override { return static_cast<int64_t>(held_.size()); }
  int64_t rounded_size(int64_t size) const override {
    require_positive(size, "rounded_size");
    return size;
  }
  int64_t largest_placeable() const override { return capacity(); }

  std::optional<Region> allocate(int64_t size) override {
    require_positive(size, "allocate");
    auto gap = find_gap(size);
    if (gap == gaps_.end()) return std::nullopt;
    const Region region{gap->first, size};
    const int64_t gap_size = gap->second;
    remove_gap(gap);
    if (gap_size > size) add_gap(region.end(), gap_size - size);
    held_.emplace(region.offset, size);
    free_slots_ -= size;
    return region;
  }

  void release(int64_t offset) override {
    auto it = held_.find(offset);
    check_invariant_lazy(it != held_.end(),
            [&] { return "release: no region at slot " + std::to_string(offset); });
    Region gap{offset, it->second};
    held_.erase(it);
    free_slots_ += gap.size;
    // Coalesce with the gap before and the gap after, if they touch.
    auto next = gaps_.lower_bound(offset);
    if (next != gaps_.begin()) {
      auto prev = std::prev(next);
      if (prev->first + prev->second == gap.offset) {
        gap = Region{prev->first, prev->second + gap.size};
        remove_gap(prev);
      }
    }
    if (next != gaps_.end() && next->first == gap.end()) {
      gap.size += next->second;
      remove_gap(next);
    }
    add_gap(gap.offset, gap.size);
  }

  std::optional<Region> region_at(int64_t offset) const override {
    auto it = held_.find(offset);
    if (it == held_.end()) return std::nullopt;
    return Region{it->first, it->second};
  }

  bool can_grow(int64_t offset, int64_t new_size) const override {
    const Region region = existing(offset, "can_grow");
    if (new_size <= region.size) return true;
    auto gap = gaps_.find(region.end());
    return gap != gaps_.end() && gap->second >= new_size - region.size;
  }

  Region grow(int64_t offset, int64_t new_size) override {
    check_invariant_lazy(can_grow(offset, new_size), [&] {
      return "grow: region at slot " + std::to_string(offset) + " cannot grow to " +
             std::to_string(new_size) + " slots in place";
    });
    const Region region = existing(offset, "grow");
    if (new_size <= region.size) return region;
    const int64_t extra = new_size - region.size;
    auto gap = gaps_.find(region.end());
    const int64_t gap_size = gap->second;
    remove_gap(gap);
    if (gap_size > extra) add_gap(region.end() + extra, gap_size - extra);
    held_[offset] = new_size;
    free_slots_ -= extra;
    return Region{offset, new_size};
  }

  bool can_place(std::span<const int64_t> sizes) const override {
    std::vector<Region> gaps;
    gaps.reserve(gaps_.size());
    for (const auto& [offset, size] : gaps_) gaps.push_back(Region{offset, size});
    return simulate(std::move(gaps), sizes);
  }

  bool can_place_when_empty(std::span<const int64_t> sizes) const override {
    std::vector<Region> gaps;
    if (capacity() > 0) gaps.push_back(Region{0, capacity()});
    return simulate(std::move(gaps), sizes);
  }

  void for_each_free_gap(const std::function<void(const Region&)>& visit) const override {
    for (const auto& [offset, size] : gaps_) visit(Region{offset, size});
  }

  std::vector<Region> regions() const override {
    std::vector<Region> out;
    out.reserve(held_.size());
    for (const auto& [offset, size] : held_) out.push_back(Region{offset, size});
    return out;
  }

  void audit() const override {
    const char* who = placement_ == Placement::kFirstFit ? "first-fit" : "best-fit";
    const std::vector<Piece> pieces = merge_pieces(held_, gaps_, [](int64_t size) { return size; });
    check_tiling(pieces, capacity(), who);
    int64_t free_sum = 0;
    for (size_t i = 0; i < pieces.size(); ++i) {
      if (!pieces[i].free) continue;
      free_sum += pieces[i].region.size;
      check_invariant_lazy(i == 0 || !pieces[i - 1].free, [&] {
        return std::string(who) + ": gaps ending and starting at slot " +
               std::to_string(pieces[i].region.offset) + " were not coalesced";
      });
    }
    check_invariant_lazy(free_sum == free_slots_, [&] {
      return std::string(who) + ": free counter " + std::to_string(free_slots_) +
             " but gaps hold " + std::to_string(free_sum);
    });
    check_invariant_lazy(gaps_by_size_.size() == gaps_.size(),
            [&] { return std::string(who) + ": size index out of step with the gaps"; });
    for (const auto& [size, offset] : gaps_by_size_) {
      auto it = gaps_.find(offset);
      check_invariant_lazy(it != gaps_.end() && it->second == size,
              [&] { return std::string(who) + ": size index names a gap that does not exist"; });
    }
  }

 private:
  using GapMap = std::map<int64_t, int64_t>;  // offset -> size

  Region existing(int64_t offset, const char* what) const {
    auto region = region_at(offset);
    check_invariant_lazy(region.has_value(),
            [&] { return std::string(what) + ": no region at slot " + std::to_string(offset); });
    return *region;
  }

  GapMap::iterator find_gap(int64_t size) {
    if (gaps_by_size_.empty() || gaps_by_size_.rbegin()->first < size) return gaps_.end();
    if (placement_ == Placement::kBestFit) {
      // Smallest size >= request; among equal sizes the lowest offset comes first.
      auto best = gaps_by_size_.lower_bound({size, std::numeric_limits<int64_t>::min()});
      return gaps_.find(best->second);
    }
    for (auto it = gaps_.begin(); it != gaps_.end(); ++it) {
      if (it->second >= size) return it;
    }
    return gaps_.end();
  }

  void add_gap(int64_t offset, int64_t size) {
    gaps_.emplace(offset, size);
    gaps_by_size_.emplace(size, offset);
  }

  void remove_gap(GapMap::iterator it) {
    gaps_by_size_.erase({it->second, it->first});
    gaps_.erase(it);
  }

  // Replays allocate() over a copy of the gaps (address order).
  bool simulate(std::vector<Region> gaps, std::span<const int64_t> sizes) const {
    for (int64_t size : sizes) {
      require_positive(size, "can_place");
      size_t chosen = gaps.size();
      for (size_t i = 0; i < gaps.size(); ++i) {
        if (gaps[i].size < size) continue;
        if (placement_ == Placement::kFirstFit) {
          chosen = i;
          break;
        }
        if (chosen == gaps.size() || gaps[i].size < gaps[chosen].size) chosen = i;
      }
      if (chosen == gaps.size()) return false;
      gaps[chosen].offset += size;
      gaps[chosen].size -= size;
    }
    return true;
  }

  Placement placement_;
  std::map<int64_t, int64_t> held_;  // offset -> size
  GapMap gaps_;
  std::set<std::pair<int64_t, int64_t>> gaps_by_size_;  // (size, offset)
  int64_t free_slots_;
};

// ---------------------------------------------------------------------------------------------
// Binary buddy allocation over the trees of the capacity's binary decomposition.
class BuddyAllocator final : public RegionAllocator {
 public:
  static constexpr int kMaxOrder = 62;

  explicit BuddyAllocator(int64_t capacity)
      : RegionAllocator(capacity), free_by_order_(kMaxOrder + 1), free_slots_(capacity) {
    int64_t base = 0;
    for (int order = kMaxOrder; order >= 0; --order) {
      if ((capacity >> order) & 1) {
        trees_.push_back(Tree{base, order});
        add_free(base, order);
        base += int64_t{1} << order;
      }
    }
  }

  Placement placement() const override { return Placement::kBuddy; }
  int64_t free_slots() const override { return free_slots_; }
  int64_t num_regions() const override { return static_cast<int64_t>(held_.size()); }
  int64_t rounded_size(int64_t size) const override {
    require_positive(size, "rounded_size");
    return int64_t{1} << order_for(size);
  }
  int64_t largest_placeable() const override {
    return trees_.empty() ? 0 : int64_t{1} << trees_.front().order;
  }

  std::optional<Region> allocate(int64_t size) override {
    require_positive(size, "allocate");
    const int order = order_for(size);
    int from = order;
    while (from <= kMaxOrder && free_by_order_[from].empty()) ++from;
    if (from > kMaxOrder) return std::nullopt;
    const int64_t offset = *free_by_order_[from].begin();
    remove_free(offset, from);
    // Split: keep the lower half, free the upper half, until the block fits the request.
    while (from > order) {
      --from;
      add_free(offset + (int64_t{1} << from), from);
    }
    held_.emplace(offset, order);
    free_slots_ -= int64_t{1} << order;
    return Region{offset, int64_t{1} << order};
  }

  void release(int64_t offset) override {
    auto it = held_.find(offset);
    check_invariant_lazy(it != held_.end(),
            [&] { return "release: no region at slot " + std::to_string(offset); });
    int order = it->second;
    held_.erase(it);
    free_slots_ += int64_t{1} << order;
    const Tree& tree = tree_of(offset);
    int64_t block = offset;
    while (order < tree.order) {
      const int64_t buddy = buddy_of(tree, block, order);
      auto free_buddy = free_by_offset_.find(buddy);
      if (free_buddy == free_by_offset_.end() || free_buddy->second != order) break;
      remove_free(buddy, order);
      block = std::min(block, buddy);
      ++order;
    }
    add_free(block, order);
  }

  std::optional<Region> region_at(int64_t offset) const override {
    auto it = held_.find(offset);
    if (it == held_.end()) return std::nullopt;
    return Region{offset, int64_t{1} << it->second};
  }

  bool can_grow(int64_t offset, int64_t new_size) const override {
    const int order = held_order(offset, "can_grow");
    const int target = order_for(new_size);
    const Tree& tree = tree_of(offset);
    for (int o = order; o < target; ++o) {
      if (!is_lower_buddy_with_free_upper(tree, offset, o)) return false;
    }
    return true;
  }

  Region grow(int64_t offset, int64_t new_size) override {
    check_invariant_lazy(can_grow(offset, new_size), [&] {
      return "grow: buddy block at slot " + std::to_string(offset) + " cannot grow to " +
             std::to_string(new_size) + " slots in place";
    });
    int order = held_order(offset, "grow");
    const int target = order_for(new_size);
    for (; order < target; ++order) {
      remove_free(offset + (int64_t{1} << order), order);
      free_slots_ -= int64_t{1} << order;
    }
    held_[offset] = order;
    return Region{offset, int64_t{1} << order};
  }

  bool can_place(std::span<const int64_t> sizes) const override {
    std::vector<int64_t> counts(kMaxOrder + 1);
    for (int o = 0; o <= kMaxOrder; ++o) counts[o] = static_cast<int64_t>(free_by_order_[o].size());
    return simulate(std::move(counts), sizes);
  }

  bool can_place_when_empty(std::span<const int64_t> sizes) const override {
    std::vector<int64_t> counts(kMaxOrder + 1);
    for (const Tree& tree : trees_) ++counts[tree.order];
    return simulate(std::move(counts), sizes);
  }

  void for_each_free_gap(const std::function<void(const Region&)>& visit) const override {
    for (const auto& [offset, order] : free_by_offset_) {
      visit(Region{offset, int64_t{1} << order});
    }
  }

  std::vector<Region> regions() const override {
    std::vector<Region> out;
    out.reserve(held_.size());
    for (const auto& [offset, order] : held_) out.push_back(Region{offset, int64_t{1} << order});
    return out;
  }

  void audit() const override {
    const std::vector<Piece> pieces =
        merge_pieces(held_, free_by_offset_, [](int order) { return int64_t{1} << order; });
    check_tiling(pieces, capacity(), "buddy");
    int64_t free_sum = 0;
    for (const Piece& p : pieces) {
      const int order = std::countr_zero(static_cast<uint64_t>(p.region.size));
      const Tree& tree = tree_of(p.region.offset);
      auto where = [&] {
        return std::string("buddy: ") + (p.free ? "free" : "held") + " block [" +
               std::to_string(p.region.offset) + ", " + std::to_string(p.region.end()) + ")";
      };
      check_invariant_lazy(order <= tree.order && p.region.end() <= tree_end(tree), [&] {
        return where() + " does not fit in its tree at slot " + std::to_string(tree.base);
      });
      check_invariant_lazy((p.region.offset - tree.base) % p.region.size == 0,
              [&] { return where() + " is not aligned to its size"; });
      if (!p.free) continue;
      free_sum += p.region.size;
      if (order < tree.order) {
        auto buddy = free_by_offset_.find(buddy_of(tree, p.region.offset, order));
        check_invariant_lazy(buddy == free_by_offset_.end() || buddy->second != order,
                [&] { return where() + " and its free buddy were not coalesced"; });
      }
      check_invariant_lazy(free_by_order_[order].count(p.region.offset) == 1,
              [&] { return where() + " is missing from its order's free list"; });
    }
    size_t listed = 0;
    for (const auto& list : free_by_order_) listed += list.size();
    check_invariant_lazy(listed == free_by_offset_.size(),
            [&] { return "buddy: per-order free lists hold blocks the address index does not"; });
    check_invariant_lazy(free_sum == free_slots_, [&] {
      return "buddy: free counter " + std::to_string(free_slots_) + " but free blocks hold " +
             std::to_string(free_sum);
    });
  }

 private:
  struct Tree {
    int64_t base = 0;  // a multiple of the tree's size (trees are laid out largest first)
    int order = 0;
  };

  static int order_for(int64_t size) {
    require_positive(size, "buddy");
    check_invariant_lazy(size <= (int64_t{1} << kMaxOrder),
            [&] { return "buddy: request of " + std::to_string(size) + " slots is too large"; });
    return static_cast<int>(std::bit_width(static_cast<uint64_t>(size - 1)));
  }
  static int64_t tree_end(const Tree& tree) { return tree.base + (int64_t{1} << tree.order); }
  static int64_t buddy_of(const Tree& tree, int64_t block, int order) {
    return tree.base + ((block - tree.base) ^ (int64_t{1} << order));
  }

  const Tree& tree_of(int64_t offset) const {
    // Trees are sorted by base; the last one whose base <= offset holds it.
    auto it = std::upper_bound(trees_.begin(), trees_.end(), offset,
                               [](int64_t o, const Tree& t) { return o < t.base; });
    check_invariant_lazy(it != trees_.begin() && offset < capacity(),
            [&] { return "buddy: slot " + std::to_string(offset) + " is outside every tree"; });
    return *std::prev(it);
  }

  int held_order(int64_t offset, const char* what) const {
    auto it = held_.find(offset);
    check_invariant_lazy(it != held_.end(),
            [&] { return std::string(what) + ": no region at slot " + std::to_string(offset); });
    return it->second;
  }

  // Block [offset, offset + 2^order) is the lower half of its parent and the upper half is free.
  bool is_lower_buddy_with_free_upper(const Tree& tree, int64_t offset, int order) const {
    if (order >= tree.order) return false;
    if (((offset - tree.base) >> order) & 1) return false;
    auto upper = free_by_offset_.find(offset + (int64_t{1} << order));
    return upper != free_by_offset_.end() && upper->second == order;
  }

  void add_free(int64_t offset, int order) {
    free_by_order_[order].insert(offset);
    free_by_offset_.emplace(offset, order);
  }
  void remove_free(int64_t offset, int order) {
    free_by_order_[order].erase(offset);
    free_by_offset_.erase(offset);
  }

  // Replays allocate() on free-block counts per order: allocation succeeds exactly when some
  // block of a large enough order is free, and splitting one of order j down to order k frees
  // one block of each order k..j-1; no merge happens while allocating.
  static bool simulate(std::vector<int64_t> counts, std::span<const int64_t> sizes) {
    for (int64_t size : sizes) {
      const int order = order_for(size);
      int from = order;
      while (from <= kMaxOrder && counts[from] == 0) ++from;
      if (from > kMaxOrder) return false;
      --counts[from];
      for (int o = order; o < from; ++o) ++counts[o];
    }
    return true;
  }

  std::vector<Tree> trees_;
  std::vector<std::set<int64_t>> free_by_order_;  // order -> free block offsets
  std::map<int64_t, int> free_by_offset_;         // free block offset -> order
  std::map<int64_t, int> held_;                   // region offset -> order
  int64_t free_slots_;
};

}  // namespace

std::unique_ptr<RegionAllocator> RegionAllocator::create(int64_t capacity, Placement placement) {
  check_invariant_lazy(capacity >= 0, [&] { return "RegionAllocator: negative capacity"; });
  if (placement == Placement::kBuddy) return std::make_unique<BuddyAllocator>(capacity);
  return std::make_unique<GapAllocator>(capacity, placement);
}

AllocStatus placement_status(const RegionAllocator& allocator, std::span<const int64_t> sizes,
                             std::span<const int64_t> full_sizes) {
  if (!allocator.can_place_when_empty(full_sizes)) return AllocStatus::kNever;
  if (!allocator.can_place(sizes)) return AllocStatus::kLater;
  return AllocStatus::kOk;
}

}  // namespace kvlab
