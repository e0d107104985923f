// Writing K/V into slots, copies inside the arena (copy-on-write, fork) and swapping between
// the device arena and the host pool, all layers, K and V.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "core/errors.h"
#include "kernels/cpu/cache_write.h"
#include "kernels/cpu/kv_cache.h"
#include "kernels/cpu/kv_copy.h"
#include "tests/kernels/kernel_test_util.h"

namespace kvlab::cpu {
namespace {

using testing::random_matrix;

constexpr int kLayers = 3, kKvHeads = 2, kHeadDim = 4;

RowMatrix read_slot_k(const CpuKvCache& cache, int32_t layer, int64_t slot) {
  const KvArenaView<const float> a = cache.layer(layer);
  RowMatrix row(1, kKvHeads * kHeadDim);
  for (int h = 0; h < kKvHeads; ++h) {
    for (int d = 0; d < kHeadDim; ++d) row(0, h * kHeadDim + d) = a.k_at(slot, h)[d];
  }
  return row;
}
RowMatrix read_slot_v(const CpuKvCache& cache, int32_t layer, int64_t slot) {
  const KvArenaView<const float> a = cache.layer(layer);
  RowMatrix row(1, kKvHeads * kHeadDim);
  for (int h = 0; h < kKvHeads; ++h) {
    for (int d = 0; d < kHeadDim; ++d) row(0, h * kHeadDim + d) = a.v_at(slot, h)[d];
  }
  return row;
}

// Fills every slot of every layer with distinct values.
void fill_distinct(CpuKvCache& cache, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (int32_t l = 0; l < cache.num_layers(); ++l) {
    const RowMatrix k = random_matrix(cache.num_slots(), kKvHeads * kHeadDim, rng);
    const RowMatrix v = random_matrix(cache.num_slots(), kKvHeads * kHeadDim, rng);
    std::vector<int64_t> slots(static_cast<size_t>(cache.num_slots()));
    for (size_t s = 0; s < slots.size(); ++s) slots[s] = static_cast<int64_t>(s);
    write_kv(k, v, slots, cache.layer(l));
  }
}

TEST(WriteKv, RowsLandInTheirSlotsAndNegativeSlotsAreSkipped) {
  CpuKvCache cache(1, 16, kKvHeads, kHeadDim);
  std::mt19937_64 rng(1);
  const RowMatrix k = random_matrix(4, kKvHeads * kHeadDim, rng);
  const RowMatrix v = random_matrix(4, kKvHeads * kHeadDim, rng);
  const std::vector<int64_t> slots = {9, -1, 0, 15};
  write_kv(k, v, slots, cache.layer(0));
  EXPECT_EQ(read_slot_k(cache, 0, 9), k.row(0));
  EXPECT_EQ(read_slot_v(cache, 0, 9), v.row(0));
  EXPECT_EQ(read_slot_k(cache, 0, 0), k.row(2));
  EXPECT_EQ(read_slot_v(cache, 0, 15), v.row(3));
  // Untouched slots stay zero: row 1 went nowhere.
  for (int64_t s : {1, 2, 8, 10, 14}) {
    EXPECT_TRUE(read_slot_k(cache, 0, s).isZero()) << s;
  }
  const std::vector<int64_t> bad = {16, 0, 0, 0};
  EXPECT_THROW(write_kv(k, v, bad, cache.layer(0)), InvariantError);
}

TEST(SlotMapping, FollowsTheLayout) {
  KvLayout paged;
  paged.kind = KvLayout::Kind::kPaged;
  paged.block_size = 4;
  paged.block_table = {7, 2};
  std::vector<int64_t> slots;
  append_slot_mapping(paged, 2, 5, slots);
  EXPECT_EQ(slots, (std::vector<int64_t>{30, 31, 8, 9, 10}));
  EXPECT_THROW(append_slot_mapping(paged, 6, 3, slots), InvariantError);  // needs a 3rd block
  KvLayout contiguous;
  contiguous.kind = KvLayout::Kind::kContiguous;
  contiguous.base_slot = 50;
  contiguous.reserved_slots = 8;
  slots.clear();
  append_slot_mapping(contiguous, 6, 2, slots);
  EXPECT_EQ(slots, (std::vector<int64_t>{56, 57}));
  EXPECT_THROW(append_slot_mapping(contiguous, 6, 3, slots), InvariantError);
}

TEST(CopyKv, CopiesWithinTheArenaInEveryLayer) {
  CpuKvCache cache(kLayers, 64, kKvHeads, kHeadDim);
  fill_distinct(cache, 2);
  const CpuKvCache before = cache;
  // A copy-on-write of one block and a fork of a region, in order.
  const std::vector<KvCopy> copies = {{16, 40, 8}, {3, 60, 2}};
  copy_kv_within(cache, copies);
  for (int32_t l = 0; l < kLayers; ++l) {
    for (int64_t s = 0; s < 64; ++s) {
      int64_t source = s;
      if (s >= 40 && s < 48) source = 16 + (s - 40);
      if (s >= 60 && s < 62) source = 3 + (s - 60);
      ASSERT_EQ(read_slot_k(cache, l, s), read_slot_k(before, l, source)) << l << " " << s;
      ASSERT_EQ(read_slot_v(cache, l, s), read_slot_v(before, l, source)) << l << " " << s;
    }
  }
}

TEST(CopyKv, RejectsOverlapAndOutOfRange) {
  CpuKvCache cache(1, 32, kKvHeads, kHeadDim);
  CpuKvCache host(1, 8, kKvHeads, kHeadDim);
  EXPECT_THROW(copy_kv_within(cache, std::vector<KvCopy>{{0, 4, 8}}), InvariantError);
  EXPECT_THROW(copy_kv_within(cache, std::vector<KvCopy>{{28, 0, 5}}), InvariantError);
  EXPECT_THROW(swap_out(cache, host, std::vector<KvCopy>{{0, 4, 5}}), InvariantError);
  CpuKvCache other_shape(1, 32, kKvHeads, kHeadDim * 2);
  EXPECT_THROW(copy_kv(cache, other_shape, std::vector<KvCopy>{{0, 0, 1}}), InvariantError);
  // Overlap is fine between two caches (same slot numbers, different memory).
  EXPECT_NO_THROW(swap_out(cache, host, std::vector<KvCopy>{{0, 0, 8}}));
}

TEST(Swap, OutAndBackInToOtherSlotsRestoresEveryLayer) {
  CpuKvCache device(kLayers, 48, kKvHeads, kHeadDim);
  CpuKvCache host(kLayers, 20, kKvHeads, kHeadDim);
  fill_distinct(device, 3);
  const CpuKvCache before = device;
  // Two ranges out to the host pool (a paged sequence's two blocks), then the device is
  // overwritten (someone else used the memory), then back in at different slots.
  swap_out(device, host, std::vector<KvCopy>{{8, 0, 4}, {32, 4, 4}});
  fill_distinct(device, 4);
  swap_in(host, device, std::vector<KvCopy>{{0, 20, 4}, {4, 0, 4}});
  for (int32_t l = 0; l < kLayers; ++l) {
    for (int64_t t = 0; t < 4; ++t) {
      EXPECT_EQ(read_slot_k(device, l, 20 + t), read_slot_k(before, l, 8 + t));
      EXPECT_EQ(read_slot_v(device, l, 20 + t), read_slot_v(before, l, 8 + t));
      EXPECT_EQ(read_slot_k(device, l, 0 + t), read_slot_k(before, l, 32 + t));
      EXPECT_EQ(read_slot_v(device, l, 0 + t), read_slot_v(before, l, 32 + t));
    }
  }
}

}  // namespace
}  // namespace kvlab::cpu
