// RegionAllocator: each placement's choices on hand-built layouts, dry runs, in-place growth,
// coalescing, and random alloc / grow / free sequences checked against a slot-by-slot
// reference (first-fit, best-fit) or the buddy invariants, with audit() after every step.
#include "policies/memory/region_allocator.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/errors.h"

namespace kvlab {
namespace {

using Regions = std::vector<Region>;

std::unique_ptr<RegionAllocator> make(int64_t capacity, Placement placement) {
  return RegionAllocator::create(capacity, placement);
}

int64_t place(RegionAllocator& a, int64_t size) {
  std::optional<Region> r = a.allocate(size);
  EXPECT_TRUE(r.has_value()) << "allocate(" << size << ") failed";
  return r ? r->offset : -1;
}

TEST(RegionAllocatorTest, PlacementNames) {
  EXPECT_EQ(parse_placement("first-fit"), Placement::kFirstFit);
  EXPECT_EQ(parse_placement("best-fit"), Placement::kBestFit);
  EXPECT_EQ(parse_placement("buddy"), Placement::kBuddy);
  try {
    parse_placement("worst-fit");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("memory.placement"), std::string::npos) << message;
    EXPECT_NE(message.find("worst-fit"), std::string::npos) << message;
    EXPECT_NE(message.find("first-fit, best-fit, buddy"), std::string::npos) << message;
  }
}

// Layout for the gap tests (capacity 100): held [10,30) and [60,70) and [85,100);
// gaps [0,10) = 10 slots, [30,60) = 30 slots, [70,85) = 15 slots.
void build_three_gaps(RegionAllocator& a) {
  ASSERT_EQ(place(a, 10), 0);
  ASSERT_EQ(place(a, 20), 10);
  ASSERT_EQ(place(a, 30), 30);
  ASSERT_EQ(place(a, 10), 60);
  ASSERT_EQ(place(a, 15), 70);
  ASSERT_EQ(place(a, 15), 85);
  a.release(0);
  a.release(30);
  a.release(70);
  a.audit();
  ASSERT_EQ(a.free_gaps(), (Regions{{0, 10}, {30, 30}, {70, 15}}));
  ASSERT_EQ(a.free_slots(), 55);
}

TEST(RegionAllocatorTest, FirstFitTakesTheLowestGapThatFits) {
  auto a = make(100, Placement::kFirstFit);
  build_three_gaps(*a);
  EXPECT_EQ(place(*a, 12), 30);  // [0,10) is too small; [30,60) is the lowest that fits
  EXPECT_EQ(place(*a, 8), 0);    // the lowest gap, although [42,60) would also fit
  EXPECT_EQ(place(*a, 15), 42);  // [42,60) before the exact fit at [70,85)
  a->audit();
  EXPECT_EQ(a->free_gaps(), (Regions{{8, 2}, {57, 3}, {70, 15}}));
  EXPECT_FALSE(a->allocate(16).has_value());
}

TEST(RegionAllocatorTest, BestFitTakesTheTightestGapLowestAddressOnTies) {
  auto a = make(100, Placement::kBestFit);
  build_three_gaps(*a);
  EXPECT_EQ(place(*a, 12), 70);  // 15 is the tightest gap >= 12
  EXPECT_EQ(place(*a, 10), 0);   // exact fit
  a->audit();
  EXPECT_EQ(a->free_gaps(), (Regions{{30, 30}, {82, 3}}));
  EXPECT_EQ(place(*a, 3), 82);
  EXPECT_EQ(place(*a, 30), 30);
  EXPECT_EQ(a->free_slots(), 0);

  // Ties: two gaps of 5 at [0,5) and [50,55); best-fit takes the lower one.
  auto b = make(60, Placement::kBestFit);
  ASSERT_EQ(place(*b, 5), 0);
  ASSERT_EQ(place(*b, 45), 5);
  ASSERT_EQ(place(*b, 5), 50);
  ASSERT_EQ(place(*b, 5), 55);
  b->release(50);
  b->release(0);
  EXPECT_EQ(place(*b, 4), 0);
  EXPECT_EQ(place(*b, 5), 50);
  b->audit();
}

TEST(RegionAllocatorTest, ReleaseCoalescesWithBothNeighbours) {
  for (Placement p : {Placement::kFirstFit, Placement::kBestFit}) {
    auto a = make(40, p);
    ASSERT_EQ(place(*a, 10), 0);
    ASSERT_EQ(place(*a, 10), 10);
    ASSERT_EQ(place(*a, 10), 20);
    a->release(0);
    a->release(20);
    EXPECT_EQ(a->free_gaps(), (Regions{{0, 10}, {20, 20}}));
    a->release(10);  // joins the gap before and the gap after
    EXPECT_EQ(a->free_gaps(), (Regions{{0, 40}}));
    EXPECT_EQ(a->num_regions(), 0);
    a->audit();
  }
}

TEST(RegionAllocatorTest, GapGrowthTakesTheRangeRightAfterTheRegion) {
  auto a = make(50, Placement::kFirstFit);
  ASSERT_EQ(place(*a, 10), 0);
  ASSERT_EQ(place(*a, 10), 10);
  a->release(10);
  ASSERT_EQ(place(*a, 5), 10);  // [10,15) held: region 0 is boxed in
  EXPECT_TRUE(a->can_grow(0, 10));
  EXPECT_FALSE(a->can_grow(0, 11));
  EXPECT_TRUE(a->can_grow(10, 50 - 10));
  EXPECT_FALSE(a->can_grow(10, 41));
  EXPECT_EQ(a->grow(10, 12), (Region{10, 12}));
  EXPECT_EQ(a->free_gaps(), (Regions{{22, 28}}));
  EXPECT_THROW(a->grow(0, 11), InvariantError);
  a->audit();
}

TEST(RegionAllocatorTest, BuddySplitsTheSmallestBlockAndRoundsUp) {
  auto a = make(64, Placement::kBuddy);
  EXPECT_EQ(a->rounded_size(5), 8);
  EXPECT_EQ(a->allocate(5), (Region{0, 8}));  // 64 -> 32 + 32 -> 16 + 16 -> 8 + 8
  EXPECT_EQ(a->free_gaps(), (Regions{{8, 8}, {16, 16}, {32, 32}}));
  EXPECT_EQ(a->allocate(9), (Region{16, 16}));  // the free 16 block; no split
  EXPECT_EQ(a->allocate(8), (Region{8, 8}));
  EXPECT_EQ(a->allocate(3), (Region{32, 4}));  // splits the 32 block three times
  EXPECT_EQ(a->free_gaps(), (Regions{{36, 4}, {40, 8}, {48, 16}}));
  EXPECT_EQ(a->free_slots(), 64 - 8 - 16 - 8 - 4);
  a->audit();
  EXPECT_FALSE(a->allocate(17).has_value());  // needs 32: only 16, 8, 4 are free

  // Coalescing: 0 and 8 are buddies; [0,16) and [16,32) are buddies.
  a->release(0);
  EXPECT_EQ(a->free_gaps(), (Regions{{0, 8}, {36, 4}, {40, 8}, {48, 16}}));
  a->release(8);
  EXPECT_EQ(a->free_gaps(), (Regions{{0, 16}, {36, 4}, {40, 8}, {48, 16}}));
  a->release(16);
  EXPECT_EQ(a->free_gaps(), (Regions{{0, 32}, {36, 4}, {40, 8}, {48, 16}}));
  a->release(32);
  EXPECT_EQ(a->free_gaps(), (Regions{{0, 64}}));
  a->audit();
}

TEST(RegionAllocatorTest, BuddyNeighboursThatAreNotBuddiesStayApart) {
  auto a = make(32, Placement::kBuddy);
  ASSERT_EQ(place(*a, 8), 0);
  ASSERT_EQ(place(*a, 8), 8);
  ASSERT_EQ(place(*a, 8), 16);
  ASSERT_EQ(place(*a, 8), 24);
  a->release(8);
  a->release(16);  // [8,16) and [16,24) touch but belong to different parents
  EXPECT_EQ(a->free_gaps(), (Regions{{8, 8}, {16, 8}}));
  EXPECT_FALSE(a->allocate(16).has_value());
  a->audit();
}

TEST(RegionAllocatorTest, BuddyCoversANonPowerOfTwoCapacityWithSeveralTrees) {
  auto a = make(100, Placement::kBuddy);  // trees 64@0, 32@64, 4@96
  EXPECT_EQ(a->free_gaps(), (Regions{{0, 64}, {64, 32}, {96, 4}}));
  EXPECT_EQ(a->largest_placeable(), 64);
  EXPECT_FALSE(a->allocate(65).has_value());
  const int64_t too_big[] = {65};
  EXPECT_FALSE(a->can_place_when_empty(too_big));
  EXPECT_EQ(a->allocate(3), (Region{96, 4}));  // the smallest block that holds it
  EXPECT_EQ(a->allocate(20), (Region{64, 32}));
  EXPECT_EQ(a->allocate(3), (Region{0, 4}));
  EXPECT_EQ(a->free_gaps(), (Regions{{4, 4}, {8, 8}, {16, 16}, {32, 32}}));
  a->release(64);
  a->release(96);
  a->release(0);
  // The trees never merge with each other.
  EXPECT_EQ(a->free_gaps(), (Regions{{0, 64}, {64, 32}, {96, 4}}));
  a->audit();
}

TEST(RegionAllocatorTest, BuddyGrowsOnlyIntoItsFreeUpperBuddies) {
  auto a = make(64, Placement::kBuddy);
  ASSERT_EQ(place(*a, 8), 0);
  ASSERT_EQ(place(*a, 8), 8);
  ASSERT_EQ(place(*a, 16), 16);
  a->release(8);
  EXPECT_TRUE(a->can_grow(0, 16));
  EXPECT_FALSE(a->can_grow(0, 17));  // [16,32) is held
  EXPECT_EQ(a->grow(0, 9), (Region{0, 16}));
  a->release(16);
  EXPECT_TRUE(a->can_grow(0, 64));
  EXPECT_EQ(a->grow(0, 33), (Region{0, 64}));
  EXPECT_EQ(a->free_slots(), 0);
  a->audit();

  auto b = make(64, Placement::kBuddy);
  ASSERT_EQ(place(*b, 8), 0);
  ASSERT_EQ(place(*b, 8), 8);
  b->release(0);
  EXPECT_FALSE(b->can_grow(8, 9));  // an upper buddy cannot grow without moving
  b->audit();
}

TEST(RegionAllocatorTest, DryRunReplaysThePlacementWithoutMutating) {
  // Gaps of 15 at [0,15) and 10 at [40,50). Requests 10 then 15: first-fit puts the 10 in the
  // 15-gap and then has no room for the 15; best-fit puts it in the 10-gap and fits both.
  for (Placement p : {Placement::kFirstFit, Placement::kBestFit}) {
    auto a = make(50, p);
    ASSERT_EQ(place(*a, 15), 0);
    ASSERT_EQ(place(*a, 25), 15);
    ASSERT_EQ(place(*a, 10), 40);
    a->release(0);
    a->release(40);
    const Regions before = a->free_gaps();
    const int64_t sizes[] = {10, 15};
    const bool predicted = a->can_place(sizes);
    EXPECT_EQ(predicted, p == Placement::kBestFit) << to_string(p);
    EXPECT_EQ(a->free_gaps(), before);
    EXPECT_EQ(a->free_slots(), 25);
    EXPECT_TRUE(a->can_place_when_empty(sizes));
    const int64_t too_much[] = {25, 26};
    EXPECT_FALSE(a->can_place_when_empty(too_much));
    // What really happens agrees with the dry run.
    const bool first = a->allocate(10).has_value();
    const bool second = a->allocate(15).has_value();
    EXPECT_EQ(first && second, predicted);
    a->audit();
  }

  auto buddy = make(64, Placement::kBuddy);
  ASSERT_EQ(place(*buddy, 16), 0);
  const int64_t fits[] = {32, 16};
  const int64_t does_not_fit[] = {32, 16, 1};
  EXPECT_TRUE(buddy->can_place(fits));
  EXPECT_FALSE(buddy->can_place(does_not_fit));
  EXPECT_TRUE(buddy->can_place_when_empty(does_not_fit));
  EXPECT_EQ(buddy->free_gaps(), (Regions{{16, 16}, {32, 32}}));
  const int64_t nothing[] = {1};
  EXPECT_FALSE(make(0, Placement::kFirstFit)->can_place_when_empty(nothing));
  EXPECT_FALSE(make(0, Placement::kBuddy)->can_place_when_empty(nothing));
}

TEST(RegionAllocatorTest, AFreshAllocatorIsOneFreeRangeAndRejectsBadReleases) {
  for (Placement p : {Placement::kFirstFit, Placement::kBestFit, Placement::kBuddy}) {
    for (int64_t capacity : {0, 1, 7, 64, 1000}) {
      auto a = make(capacity, p);
      a->audit();
      EXPECT_EQ(a->free_slots(), capacity);
      int64_t covered = 0;
      for (const Region& gap : a->free_gaps()) {
        EXPECT_EQ(gap.offset, covered);
        covered = gap.end();
      }
      EXPECT_EQ(covered, capacity);
      EXPECT_THROW(a->release(0), InvariantError);
      if (capacity > 0) {
        EXPECT_THROW(a->allocate(0), InvariantError);
      }
    }
  }
}

// Slot-by-slot reference for first-fit and best-fit: O(capacity) per operation.
class ReferenceArena {
 public:
  ReferenceArena(int64_t capacity, Placement p) : used_(static_cast<size_t>(capacity)), p_(p) {}

  std::optional<int64_t> allocate(int64_t size) {
    std::optional<Region> chosen;
    for (const Region& gap : gaps()) {
      if (gap.size < size) continue;
      if (p_ == Placement::kFirstFit) {
        chosen = gap;
        break;
      }
      if (!chosen || gap.size < chosen->size) chosen = gap;
    }
    if (!chosen) return std::nullopt;
    mark(chosen->offset, size, true);
    return chosen->offset;
  }
  void mark(int64_t offset, int64_t size, bool on) {
    for (int64_t i = offset; i < offset + size; ++i) used_[static_cast<size_t>(i)] = on;
  }
  Regions gaps() const {
    Regions out;
    for (int64_t i = 0; i < static_cast<int64_t>(used_.size());) {
      if (used_[static_cast<size_t>(i)]) {
        ++i;
        continue;
      }
      int64_t j = i;
      while (j < static_cast<int64_t>(used_.size()) && !used_[static_cast<size_t>(j)]) ++j;
      out.push_back(Region{i, j - i});
      i = j;
    }
    return out;
  }

 private:
  std::vector<bool> used_;
  Placement p_;
};

// Deterministic draws in [0, n) from a 64-bit engine (no std distributions).
int64_t draw(std::mt19937_64& rng, int64_t n) { return static_cast<int64_t>(rng() % n); }

TEST(RegionAllocatorTest, RandomSequencesMatchTheSlotReference) {
  for (Placement p : {Placement::kFirstFit, Placement::kBestFit}) {
    std::mt19937_64 rng(12345);
    const int64_t capacity = 300;
    auto a = make(capacity, p);
    ReferenceArena ref(capacity, p);
    std::map<int64_t, int64_t> held;  // offset -> size
    for (int step = 0; step < 1500; ++step) {
      const int64_t op = draw(rng, 10);
      if (op < 5 || held.empty()) {
        const int64_t size = 1 + draw(rng, 40);
        const int64_t sizes[] = {size};
        const bool predicted = a->can_place(sizes);
        std::optional<Region> got = a->allocate(size);
        std::optional<int64_t> want = ref.allocate(size);
        ASSERT_EQ(got.has_value(), predicted) << "step " << step;
        ASSERT_EQ(got.has_value(), want.has_value()) << "step " << step;
        if (got) {
          ASSERT_EQ(got->offset, *want) << "step " << step << " size " << size;
          held[got->offset] = size;
        }
      } else {
        auto it = held.begin();
        std::advance(it, draw(rng, static_cast<int64_t>(held.size())));
        if (op == 9) {  // grow by up to 5 slots when the next range allows
          const int64_t new_size = it->second + 1 + draw(rng, 5);
          const Region after{it->first + it->second, new_size - it->second};
          bool in_gap = false;  // the extra slots lie at the start of one free gap
          for (const Region& gap : ref.gaps()) {
            in_gap |= gap.offset == after.offset && after.end() <= gap.end();
          }
          ASSERT_EQ(a->can_grow(it->first, new_size), in_gap) << "step " << step;
          if (in_gap) {
            a->grow(it->first, new_size);
            ref.mark(after.offset, after.size, true);
            it->second = new_size;
          }
        } else {
          a->release(it->first);
          ref.mark(it->first, it->second, false);
          held.erase(it);
        }
      }
      a->audit();
      ASSERT_EQ(a->free_gaps(), ref.gaps()) << "step " << step;
      ASSERT_EQ(a->num_regions(), static_cast<int64_t>(held.size()));
    }
  }
}

TEST(RegionAllocatorTest, RandomBuddySequencesKeepTheInvariants) {
  for (int64_t capacity : {256, 100, 1000}) {
    std::mt19937_64 rng(777 + static_cast<uint64_t>(capacity));
    auto a = make(capacity, Placement::kBuddy);
    std::map<int64_t, int64_t> held;  // offset -> size held
    int64_t held_slots = 0;
    for (int step = 0; step < 1500; ++step) {
      const int64_t op = draw(rng, 10);
      if (op < 5 || held.empty()) {
        const int64_t size = 1 + draw(rng, 40);
        const int64_t sizes[] = {size};
        const bool predicted = a->can_place(sizes);
        std::optional<Region> got = a->allocate(size);
        ASSERT_EQ(got.has_value(), predicted) << "step " << step;
        if (got) {
          ASSERT_EQ(got->size, a->rounded_size(size));
          ASSERT_EQ(got->offset % got->size, 0) << "unaligned block";
          held[got->offset] = got->size;
          held_slots += got->size;
        } else {
          // Failing is only allowed when no free block is large enough.
          for (const Region& gap : a->free_gaps()) ASSERT_LT(gap.size, a->rounded_size(size));
        }
      } else {
        auto it = held.begin();
        std::advance(it, draw(rng, static_cast<int64_t>(held.size())));
        if (op == 9) {
          const int64_t new_size = it->second * 2;
          if (a->can_grow(it->first, new_size)) {
            const Region grown = a->grow(it->first, new_size);
            ASSERT_EQ(grown, (Region{it->first, new_size}));
            held_slots += new_size - it->second;
            it->second = new_size;
          }
        } else {
          a->release(it->first);
          held_slots -= it->second;
          held.erase(it);
        }
      }
      a->audit();
      ASSERT_EQ(a->free_slots(), capacity - held_slots);
      ASSERT_EQ(a->num_regions(), static_cast<int64_t>(held.size()));
    }
    for (const auto& [offset, size] : held) a->release(offset);
    a->audit();
    // Everything coalesced back into the original trees.
    auto fresh = make(capacity, Placement::kBuddy);
    EXPECT_EQ(a->free_gaps(), fresh->free_gaps());
  }
}

}  // namespace
}  // namespace kvlab
