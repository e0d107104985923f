// CpuKvCache's memory costs nothing until used (kernels/lazy_host_memory.h): a cache far larger
// than the machine's memory is created at once, reads as zeros, commits only the pages its
// written slots lie on, and copies by value. A cache over borrowed memory uses the caller's.
#include <gtest/gtest.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "core/errors.h"
#include "kernels/cpu/cache_write.h"
#include "kernels/cpu/kv_cache.h"
#include "kernels/lazy_host_memory.h"

namespace kvlab::cpu {
namespace {

constexpr size_t kGiB = size_t{1} << 30;
constexpr size_t kMiB = size_t{1} << 20;

// Writes slot `slot` of every layer with `value`.
void write_slot(CpuKvCache& cache, int64_t slot, float value) {
  const RowMatrix row = RowMatrix::Constant(1, cache.slot_floats(), value);
  const std::vector<int64_t> slots = {slot};
  for (int32_t l = 0; l < cache.num_layers(); ++l) write_kv(row, row, slots, cache.layer(l));
}

TEST(LazyHostMemory, ReservesWithoutCommittingAndReadsZeros) {
  LazyHostMemory memory(kGiB);
  ASSERT_NE(memory.data(), nullptr);
  EXPECT_EQ(memory.size_bytes(), kGiB);
  EXPECT_EQ(memory.resident_bytes(), 0u);
  memory.as<char>()[kGiB / 2] = 1;
  EXPECT_GT(memory.resident_bytes(), 0u);
  EXPECT_LE(memory.resident_bytes(), 2 * kMiB);  // one page (a huge page at most)
  EXPECT_EQ(memory.as<char>()[kGiB / 2 + 1], 0);
  LazyHostMemory moved = std::move(memory);
  EXPECT_EQ(memory.data(), nullptr);  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(moved.as<char>()[kGiB / 2], 1);
  EXPECT_EQ(LazyHostMemory(0).data(), nullptr);
}

// 64 GiB of K and V (2 layers, 64M slots of 64 floats): more than the machines this runs on
// have, so committing it up front would fail or take minutes.
TEST(CpuKvCache, AHugeCacheCommitsOnlyTheSlotsWritten) {
  const int64_t slots = int64_t{64} << 20;
  CpuKvCache cache(2, slots, 1, 64);
  EXPECT_EQ(cache.resident_bytes(), 0u);
  write_slot(cache, 0, 1.0f);
  write_slot(cache, slots - 1, 2.0f);
  // Two slots in 2 layers x K and V: 8 pages, huge pages at most.
  EXPECT_GT(cache.resident_bytes(), 0u);
  EXPECT_LE(cache.resident_bytes(), 8 * 2 * kMiB);
  const KvArenaView<const float> last = std::as_const(cache).layer(1);
  EXPECT_EQ(last.k_at(slots - 1, 0)[63], 2.0f);
  EXPECT_EQ(last.v_at(0, 0)[0], 1.0f);
  EXPECT_EQ(last.k_at(slots / 2, 0)[0], 0.0f);  // never written: zero
}

TEST(CpuKvCache, CopiesAreDeepAndMovesKeepTheData) {
  CpuKvCache cache(2, 64, 2, 4);
  write_slot(cache, 5, 3.0f);
  CpuKvCache copy = cache;
  write_slot(cache, 5, 4.0f);
  EXPECT_EQ(std::as_const(copy).layer(1).k_at(5, 1)[3], 3.0f);
  EXPECT_EQ(std::as_const(copy).layer(1).v_at(6, 0)[0], 0.0f);
  const CpuKvCache moved = std::move(cache);
  EXPECT_EQ(moved.layer(0).v_at(5, 0)[0], 4.0f);
  copy = moved;
  EXPECT_EQ(std::as_const(copy).layer(0).k_at(5, 1)[2], 4.0f);
}

// A cache over borrowed memory (a virtual-memory arena's views) reads and writes the caller's
// bytes in the same layout, and refuses to be copied or filled: the memory may have holes.
TEST(CpuKvCache, ABorrowingCacheUsesTheCallersMemory) {
  const CpuKvCache owned(2, 64, 2, 4);  // the same shape, for the byte count
  std::vector<float> k(2 * 64 * 2 * 4, 0.0f), v(k.size(), 0.0f);
  CpuKvCache cache = CpuKvCache::borrowing(reinterpret_cast<std::byte*>(k.data()),
                                           reinterpret_cast<std::byte*>(v.data()), 2, 64, 2, 4,
                                           KvDtype::kFp32);
  EXPECT_EQ(cache.num_slots(), 64);
  EXPECT_EQ(cache.bytes_per_slot(), owned.bytes_per_slot());
  EXPECT_EQ(cache.resident_bytes(), 0u);
  write_slot(cache, 5, 3.0f);
  EXPECT_EQ(k[((1 * 64 + 5) * 2 + 1) * 4 + 3], 3.0f);  // [layer 1][slot 5][head 1][3]
  EXPECT_EQ(v[(5 * 2 + 0) * 4 + 0], 3.0f);
  EXPECT_THROW(CpuKvCache copy(cache), InvariantError);
  EXPECT_THROW(cache.fill(0.0f), InvariantError);
  EXPECT_THROW(CpuKvCache::borrowing(nullptr, nullptr, 1, 0, 1, 4, KvDtype::kInt8),
               InvariantError);
}

}  // namespace
}  // namespace kvlab::cpu
