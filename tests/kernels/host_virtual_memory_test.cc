// Real virtual memory on the host (kernels/host_virtual_memory.h) and the arena that mirrors a
// virtual manager's page tables with it (kernels/vmm_kv_arena.h), and the page arithmetic and
// page-table diff both back ends' arenas share (kernels/virtual_page_mirror.h, also the
// cuda arena's): reservations cost no memory
// and cannot be touched, memfd pages mapped into two reservations are one memory, a page moved
// from one reservation to another keeps its bytes, and every mmap call is counted.
#include <gtest/gtest.h>

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/errors.h"
#include "core/request.h"
#include "kernels/host_virtual_memory.h"
#include "kernels/virtual_page_mirror.h"
#include "kernels/vmm_kv_arena.h"
#include "policies/memory/virtual.h"

namespace kvlab {
namespace {

TEST(HostVirtualMemory, ReservationIsWholeOsPagesAndCountsItsCall) {
  const VirtualReservation r(3 * os_page_size() + 1);
  EXPECT_EQ(r.size_bytes(), 4 * os_page_size());
  EXPECT_NE(r.data(), nullptr);
  EXPECT_EQ(r.counters().calls, 1);  // the reserving mmap
  EXPECT_EQ(r.counters().pages_mapped, 0);
}

TEST(HostVirtualMemory, PoolPagesMappedTwiceAreOneMemory) {
  const size_t page = 4 * os_page_size();
  const MemfdPagePool pool(page, 3);
  EXPECT_EQ(pool.size_bytes(), 3 * page);
  VirtualReservation a(4 * page);
  VirtualReservation b(4 * page);
  a.map(1 * page, pool, 2);
  b.map(3 * page, pool, 2);
  std::memset(a.data() + page, 0x5a, page);
  for (size_t i = 0; i < page; i += 511) ASSERT_EQ(b.data()[3 * page + i], std::byte{0x5a});
  b.data()[3 * page + 7] = std::byte{0x11};
  EXPECT_EQ(a.data()[page + 7], std::byte{0x11});
}

TEST(HostVirtualMemory, APageMovedBetweenReservationsKeepsItsBytes) {
  const size_t page = os_page_size();
  const MemfdPagePool pool(page, 4);
  VirtualReservation from(8 * page);
  VirtualReservation to(8 * page);
  from.map(0, pool, 1, 2);  // pool pages 1 and 2 at pages 0 and 1 of `from`, one call
  EXPECT_EQ(from.counters().calls, 2);
  EXPECT_EQ(from.counters().pages_mapped, 2);
  for (size_t i = 0; i < 2 * page; ++i) from.data()[i] = static_cast<std::byte>(i % 251);

  from.unmap(0, 2 * page, page);
  EXPECT_EQ(from.counters().calls, 3);
  EXPECT_EQ(from.counters().pages_unmapped, 2);
  EXPECT_GE(from.counters().seconds, 0.0);
  to.map(5 * page, pool, 2);  // pool page 2 was from's page 1
  to.map(6 * page, pool, 1);  // pool page 1 was from's page 0
  for (size_t i = 0; i < page; ++i) {
    ASSERT_EQ(to.data()[5 * page + i], static_cast<std::byte>((page + i) % 251)) << i;
    ASSERT_EQ(to.data()[6 * page + i], static_cast<std::byte>(i % 251)) << i;
  }
  EXPECT_EQ(to.counters().calls, 3);
  EXPECT_EQ(to.counters().pages_mapped, 2);
}

// An unmapped page is reserved and inaccessible again: touching it faults.
TEST(HostVirtualMemoryDeathTest, AnUnmappedPageCannotBeTouched) {
  const size_t page = os_page_size();
  const MemfdPagePool pool(page, 1);
  VirtualReservation r(2 * page);
  r.map(page, pool, 0);
  r.data()[page] = std::byte{1};
  r.unmap(page, page, page);
  EXPECT_DEATH(
      {
        volatile std::byte* p = r.data() + page;
        *p = std::byte{2};
      },
      "");
}

TEST(HostVirtualMemory, RefusesSpansOutsideAndPagesThatAreNotWholeOsPages) {
  const size_t page = os_page_size();
  EXPECT_THROW(MemfdPagePool(page + 8, 2), std::invalid_argument);
  EXPECT_THROW(MemfdPagePool(0, 2), std::invalid_argument);
  const MemfdPagePool pool(page, 2);
  VirtualReservation r(2 * page);
  EXPECT_THROW(r.map(page / 2, pool, 0), std::invalid_argument);  // not page aligned
  EXPECT_THROW(r.map(2 * page, pool, 0), std::invalid_argument);  // past the reservation
  EXPECT_THROW(r.map(0, pool, 1, 2), std::invalid_argument);      // past the pool
  EXPECT_THROW(r.unmap(page, 2 * page, page), std::invalid_argument);
  EXPECT_EQ(r.counters().calls, 1);  // refused calls are never made
}

// --- VmmKvArena over the virtual manager ------------------------------------------------------

constexpr int32_t kLayers = 2, kKvHeads = 2, kHeadDim = 16;  // tiny-llama's KV: 128 B per token

struct Fixture {
  std::unique_ptr<KvCacheManager> kv;
  VirtualGeometry geometry;
  std::unique_ptr<VmmKvArena> arena;
};

// A virtual manager of `pages` 64 KiB pages (512 fp32 tokens each) with a 1024-token window.
Fixture make(int32_t pages, bool deferred = false) {
  MemoryConfig m;
  m.policy = "virtual";
  m.capacity_slots = 512LL * pages;
  m.max_seq_len = 1024;
  m.kv_tensor_bytes_per_token = kKvHeads * kHeadDim * 4;
  m.kv_layers = kLayers;
  m.settings.set("memory.page_size", "64KiB");
  m.settings.set("memory.deferred_reclaim", deferred ? "true" : "false");
  Fixture f;
  f.geometry = memory_policies().entry("virtual").traits.vmm_geometry(m);
  f.kv = memory_policies().create("virtual", m);
  f.arena = std::make_unique<VmmKvArena>(f.geometry, kLayers, kKvHeads, kHeadDim, KvDtype::kFp32);
  return f;
}

std::unique_ptr<SequenceGroup> group(RequestId id, int32_t prompt, int32_t output) {
  RequestSpec spec;
  spec.id = id;
  spec.prompt_len = prompt;
  spec.output_len = output;
  return std::make_unique<SequenceGroup>(spec);
}

float& k_at(cpu::CpuKvCache& cache, int32_t layer, int64_t slot) {
  return *cache.layer(layer).k_at(slot, 0);
}
float& v_at(cpu::CpuKvCache& cache, int32_t layer, int64_t slot) {
  return *cache.layer(layer).v_at(slot, 1);
}

TEST(VmmKvArena, GeometryAndRealPageArithmetic) {
  Fixture f = make(4);
  EXPECT_EQ(f.geometry.tokens_per_page, 512);  // 64 KiB / (2 heads x 16 x 4 bytes)
  EXPECT_EQ(f.geometry.pages_per_range, 2);    // 1024 tokens
  EXPECT_EQ(VmmKvArena::real_page_bytes(f.geometry, kKvHeads, kHeadDim, KvDtype::kFp32), 65536);
  // Stored as fp16 the same tokens take half the bytes; auto stores fp32.
  EXPECT_EQ(VmmKvArena::real_page_bytes(f.geometry, kKvHeads, kHeadDim, KvDtype::kFp16), 32768);
  EXPECT_EQ(VmmKvArena::real_page_bytes(f.geometry, kKvHeads, kHeadDim, KvDtype::kAuto), 65536);
  EXPECT_EQ(f.arena->ranges(), 4);  // min(ranges_total, num_pages)
  EXPECT_EQ(f.arena->reserved_bytes(), 2LL * kLayers * 4 * 2 * 65536);
  EXPECT_EQ(f.arena->physical().num_slots(), 4 * 512);
  EXPECT_EQ(f.arena->virtual_cache().num_slots(), 4 * 1024);
  const KvLayout l = f.arena->layout(3);
  EXPECT_EQ(l.kind, KvLayout::Kind::kContiguous);
  EXPECT_EQ(l.base_slot, 3 * 1024);
  EXPECT_EQ(l.reserved_slots, 1024);
  EXPECT_THROW(f.arena->layout(4), InvariantError);
  EXPECT_THROW(VmmKvArena(f.geometry, kLayers, kKvHeads, kHeadDim, KvDtype::kInt8),
               std::invalid_argument);
  VirtualGeometry odd = f.geometry;
  odd.tokens_per_page = 100;  // 100 x 128 bytes: not whole 4 KiB pages
  EXPECT_THROW(VmmKvArena(odd, kLayers, kKvHeads, kHeadDim, KvDtype::kFp32),
               std::invalid_argument);
}

// The arena mirrors the manager: a sequence's virtual slots are the physical slots of its
// pages, written through one view and read through the other; released pages are unmapped and
// the next sequence given them finds their bytes in its own range.
TEST(VmmKvArena, MirrorsPageTablesAndMovesPagesBetweenRanges) {
  Fixture f = make(3);
  KvCacheManager& kv = *f.kv;
  VmmKvArena& arena = *f.arena;
  const VmmCallCounters start = arena.counters();
  EXPECT_EQ(start.calls, 1);  // the reservation

  const auto a = group(1, 600, 10);  // 600 tokens: 2 pages
  ASSERT_EQ(kv.can_admit(*a), AllocStatus::kOk);
  kv.admit(*a);
  arena.mirror(kv);
  const int64_t ra = kv.virtual_range(a->seqs[0]);
  const std::span<const int32_t> pa = kv.virtual_range_pages(ra);
  ASSERT_EQ(pa.size(), 2u);
  EXPECT_EQ(arena.counters().calls - start.calls, 2 * 2 * kLayers);  // a call per page per tensor
  EXPECT_EQ(arena.counters().pages_mapped, 2 * 2 * kLayers);
  arena.mirror(kv);  // nothing changed: no call
  EXPECT_EQ(arena.counters().calls - start.calls, 2 * 2 * kLayers);

  // Token 520 of `a` is token 8 of its second page.
  const int64_t virtual_slot = arena.layout(ra).base_slot + 520;
  const int64_t physical_slot = static_cast<int64_t>(pa[1]) * 512 + 8;
  k_at(arena.virtual_cache(), 1, virtual_slot) = 3.5f;
  v_at(arena.virtual_cache(), 0, virtual_slot) = -2.0f;
  EXPECT_EQ(k_at(arena.physical(), 1, physical_slot), 3.5f);
  EXPECT_EQ(v_at(arena.physical(), 0, physical_slot), -2.0f);
  k_at(arena.physical(), 0, static_cast<int64_t>(pa[0]) * 512) = 7.0f;  // token 0
  EXPECT_EQ(k_at(arena.virtual_cache(), 0, arena.layout(ra).base_slot), 7.0f);

  // `a` finishes: its pages are unmapped from its range. `b` gets range and pages anew.
  const int32_t moved = pa[1];
  kv.release(a->seqs[0]);
  arena.mirror(kv);
  EXPECT_EQ(arena.counters().pages_unmapped, 2 * 2 * kLayers);
  const auto b = group(2, 1000, 10);  // 2 pages: the pool's LIFO hands back a's
  ASSERT_EQ(kv.can_admit(*b), AllocStatus::kOk);
  kv.admit(*b);
  arena.mirror(kv);
  const int64_t rb = kv.virtual_range(b->seqs[0]);
  const std::span<const int32_t> pb = kv.virtual_range_pages(rb);
  const auto it = std::find(pb.begin(), pb.end(), moved);
  ASSERT_NE(it, pb.end()) << "a's page must serve b";
  const int64_t b_slot = arena.layout(rb).base_slot + (it - pb.begin()) * 512 + 8;
  EXPECT_EQ(k_at(arena.virtual_cache(), 1, b_slot), 3.5f);  // its bytes came along
  EXPECT_EQ(v_at(arena.virtual_cache(), 0, b_slot), -2.0f);
  kv.audit();
}

// Deferred reclamation: an idle range keeps its pages mapped until a page is needed
// elsewhere; then the page is unmapped from the idle range and mapped into the needy one.
TEST(VmmKvArena, ReclaimedPagesLeaveTheIdleRange) {
  Fixture f = make(2, /*deferred=*/true);
  KvCacheManager& kv = *f.kv;
  VmmKvArena& arena = *f.arena;
  const auto a = group(1, 700, 10);  // both pages
  kv.admit(*a);
  arena.mirror(kv);
  const int64_t ra = kv.virtual_range(a->seqs[0]);
  kv.release(a->seqs[0]);
  arena.mirror(kv);
  EXPECT_EQ(arena.counters().pages_unmapped, 0);  // kept mapped in the idle range
  EXPECT_EQ(kv.virtual_range_pages(ra).size(), 2u);
  const auto b = group(2, 100, 10);
  const auto c = group(3, 100, 10);
  kv.admit(*b);  // takes the idle range, trimmed to its one page
  kv.admit(*c);  // a fresh range, the trimmed page
  arena.mirror(kv);
  EXPECT_EQ(arena.counters().pages_unmapped, 2 * kLayers);
  EXPECT_EQ(kv.virtual_memory_stats().ranges_created, 2);
  kv.audit();
}

TEST(VmmKvArena, RefusesAManagerOfAnotherGeometry) {
  Fixture f = make(2);
  MemoryConfig paged;
  paged.policy = "paged";
  paged.capacity_slots = 64;
  EXPECT_THROW(f.arena->mirror(*memory_policies().create("paged", paged)), InvariantError);
}

// --- VirtualPageMirror: the arithmetic and the diff, without any mapping ------------------------

TEST(VirtualPageMirror, PageIndicesFollowTheArenaLayouts) {
  Fixture f = make(3);  // 3 page groups, 2 pages per range, 2 layers: 3 ranges
  const VirtualPageMirror m(f.geometry, kLayers);
  EXPECT_EQ(m.ranges(), 3);
  EXPECT_EQ(m.pool_pages(), 2 * kLayers * 3);
  EXPECT_EQ(m.reserved_pages(), 2 * kLayers * 3 * 2);
  EXPECT_EQ(m.physical_slots(), 3 * 512);
  EXPECT_EQ(m.virtual_slots(), 3 * 1024);
  // Pool: K then V, per layer, per group. Reservation: K then V, per layer, per range, per page.
  EXPECT_EQ(m.pool_page(0, 0, 2), 2);
  EXPECT_EQ(m.pool_page(0, 1, 0), 3);
  EXPECT_EQ(m.pool_page(1, 0, 1), 2 * 3 + 1);
  EXPECT_EQ(m.virtual_page(0, 0, 1, 1), 3);
  EXPECT_EQ(m.virtual_page(0, 1, 0, 0), 3 * 2);
  EXPECT_EQ(m.virtual_page(1, 1, 2, 1), ((1 * kLayers + 1) * 3 + 2) * 2 + 1);
  // Every page of the reservation has one index, and so has every pool page.
  std::vector<int64_t> seen;
  for (int32_t t = 0; t < 2; ++t)
    for (int32_t l = 0; l < kLayers; ++l)
      for (int64_t r = 0; r < 3; ++r)
        for (int64_t p = 0; p < 2; ++p) seen.push_back(m.virtual_page(t, l, r, p));
  std::sort(seen.begin(), seen.end());
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], static_cast<int64_t>(i));
  EXPECT_EQ(m.layout(2).base_slot, 2 * 1024);
  VirtualGeometry empty = f.geometry;
  empty.num_pages = 0;
  EXPECT_THROW(VirtualPageMirror(empty, kLayers), std::invalid_argument);
}

// The diff calls map for a page whose group changed (with what was mapped before still
// visible, for an arena that must unmap first) and unmap for pages a range gave up; nothing
// when nothing changed.
TEST(VirtualPageMirror, MirrorCallsMapAndUnmapOnlyForChanges) {
  Fixture f = make(3);
  KvCacheManager& kv = *f.kv;
  VirtualPageMirror m(f.geometry, kLayers);
  std::vector<std::string> calls;
  auto mirror = [&] {
    calls.clear();
    m.mirror(
        kv, "test",
        [&](int64_t r, int64_t p, int32_t g) {
          const bool had = p < static_cast<int64_t>(m.mapped(r).size());
          calls.push_back("map " + std::to_string(r) + "." + std::to_string(p) + "=" +
                          std::to_string(g) + (had ? " over" : ""));
        },
        [&](int64_t r, int64_t p) {
          calls.push_back("unmap " + std::to_string(r) + "." + std::to_string(p));
        });
  };
  const auto a = group(1, 600, 10);  // 2 pages
  kv.admit(*a);
  mirror();
  const int64_t ra = kv.virtual_range(a->seqs[0]);
  const std::span<const int32_t> pa = kv.virtual_range_pages(ra);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0], "map " + std::to_string(ra) + ".0=" + std::to_string(pa[0]));
  EXPECT_EQ(m.mapped(ra), std::vector<int32_t>(pa.begin(), pa.end()));
  mirror();
  EXPECT_TRUE(calls.empty());
  kv.release(a->seqs[0]);
  mirror();
  EXPECT_EQ(calls, (std::vector<std::string>{"unmap " + std::to_string(ra) + ".0",
                                             "unmap " + std::to_string(ra) + ".1"}));
  EXPECT_TRUE(m.mapped(ra).empty());
  MemoryConfig paged;
  paged.policy = "paged";
  paged.capacity_slots = 64;
  EXPECT_THROW(m.mirror(*memory_policies().create("paged", paged), "test", nullptr, nullptr),
               InvariantError);
}

}  // namespace
}  // namespace kvlab
