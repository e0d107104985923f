// The contiguous (Orca) manager in exact states: where regions go, what the breakdown says
// about them, what fork, append and swap return, and the admission answers and errors.
// The contract shared with every other manager is in conformance_test.cc.
#include "policies/memory/contiguous.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/errors.h"
#include "tests/memory/kv_test_util.h"

namespace kvlab {
namespace {

using testutil::KvDriver;
using testutil::make_spec;

MemoryConfig contiguous_config(int64_t capacity, const std::string& reservation,
                               const std::string& placement, int32_t max_seq_len,
                               int64_t swap = 0) {
  MemoryConfig c;
  c.policy = "contiguous";
  c.capacity_slots = capacity;
  c.swap_capacity_slots = swap;
  c.max_seq_len = max_seq_len;
  c.settings.set("memory.reservation", std::string(reservation));
  c.settings.set("memory.placement", std::string(placement));
  return c;
}

std::unique_ptr<KvCacheManager> make(const MemoryConfig& c) {
  return memory_policies().create("contiguous", c);
}

struct Parts {
  int64_t token_states, reserved, internal_frag, external_frag, free;
};

void expect_breakdown(const KvCacheManager& kv, const SequenceGroup* head_of_line, Parts want) {
  const MemoryBreakdown b = kv.breakdown(head_of_line);
  EXPECT_EQ(b.token_states, want.token_states);
  EXPECT_EQ(b.reserved, want.reserved);
  EXPECT_EQ(b.internal_frag, want.internal_frag);
  EXPECT_EQ(b.external_frag, want.external_frag);
  EXPECT_EQ(b.free, want.free);
  EXPECT_EQ(b.capacity, kv.capacity_slots());
}

// (base_slot, reserved_slots) of a sequence's region.
using Span = std::pair<int64_t, int64_t>;
Span where(const KvCacheManager& kv, const Sequence& seq) {
  const KvLayout layout = kv.layout(seq);
  EXPECT_EQ(layout.kind, KvLayout::Kind::kContiguous);
  return {layout.base_slot, layout.reserved_slots};
}

std::string input_error_of(const MemoryConfig& c) {
  try {
    make(c);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ContiguousTest, RegisteredByNameWithItsSettings) {
  ASSERT_TRUE(memory_policies().contains("contiguous"));
  auto kv = make(contiguous_config(100, "pow2", "buddy", 64, 10));
  EXPECT_EQ(kv->name(), "contiguous(reservation=pow2,placement=buddy)");
  EXPECT_EQ(kv->capacity_slots(), 100);
  EXPECT_EQ(kv->host_capacity_slots(), 10);
  EXPECT_EQ(kv->free_slots(), 100);
}

TEST(ContiguousTest, BadSettingsAreInputErrorsNamingTheField) {
  std::string m = input_error_of(contiguous_config(100, "huge", "first-fit", 64));
  EXPECT_NE(m.find("memory.reservation"), std::string::npos) << m;
  EXPECT_NE(m.find("'huge'"), std::string::npos) << m;
  EXPECT_NE(m.find("max, pow2, oracle"), std::string::npos) << m;

  m = input_error_of(contiguous_config(100, "max", "next-fit", 64));
  EXPECT_NE(m.find("memory.placement"), std::string::npos) << m;
  EXPECT_NE(m.find("'next-fit'"), std::string::npos) << m;
  EXPECT_NE(m.find("first-fit, best-fit, buddy"), std::string::npos) << m;

  m = input_error_of(contiguous_config(0, "max", "first-fit", 64));
  EXPECT_NE(m.find("memory.capacity_slots"), std::string::npos) << m;
  m = input_error_of(contiguous_config(100, "max", "first-fit", 64, -1));
  EXPECT_NE(m.find("memory.swap_capacity_slots"), std::string::npos) << m;
  m = input_error_of(contiguous_config(100, "max", "first-fit", 0));
  EXPECT_NE(m.find("memory.max_seq_len"), std::string::npos) << m;
}

TEST(ContiguousTest, ReservationRules) {
  SequenceGroup g(make_spec(1, 10, 23));  // final length 33
  const Sequence& s = g.seqs[0];
  EXPECT_EQ(reservation_slots(Reservation::kMax, 100, s), 100);
  EXPECT_EQ(reservation_slots(Reservation::kPow2, 100, s), 64);
  EXPECT_EQ(reservation_slots(Reservation::kPow2, 40, s), 40);  // capped at max_seq_len
  EXPECT_EQ(reservation_slots(Reservation::kOracle, 100, s), 33);
  SequenceGroup exact(make_spec(2, 16, 16));  // a power of two stays as it is
  EXPECT_EQ(reservation_slots(Reservation::kPow2, 100, exact.seqs[0]), 32);
  // Never less than the tokens the sequence already has.
  SequenceGroup grown(make_spec(3, 10, 30));
  grown.seqs[0].num_generated = 25;
  EXPECT_EQ(reservation_slots(Reservation::kPow2, 32, grown.seqs[0]), 35);
  EXPECT_EQ(parse_reservation("oracle"), Reservation::kOracle);
  EXPECT_THROW(parse_reservation("min"), InputError);
}

// Orca-Max: every request reserves max_seq_len; what lies past its true final length is
// internal fragmentation, exactly sum(max_seq_len - final length).
TEST(ContiguousTest, MaxReservationWastesMaxSeqLenMinusFinalLength) {
  for (const char* placement : {"first-fit", "best-fit"}) {
    SCOPED_TRACE(placement);
    auto kv = make(contiguous_config(1000, "max", placement, 100));
    KvDriver d(*kv);
    auto a = d.new_group(make_spec(1, 10, 20));  // final 30
    auto b = d.new_group(make_spec(2, 30, 5));   // final 35
    auto c = d.new_group(make_spec(3, 50, 40));  // final 90
    for (auto* g : {a.get(), b.get(), c.get()}) ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
    EXPECT_EQ(where(*kv, a->seqs[0]), Span(0, 100));
    EXPECT_EQ(where(*kv, b->seqs[0]), Span(100, 100));
    EXPECT_EQ(where(*kv, c->seqs[0]), Span(200, 100));
    // Nothing computed: the whole final length is reserved.
    expect_breakdown(*kv, nullptr, {0, 30 + 35 + 90, 70 + 65 + 10, 0, 700});
    for (auto* g : {a.get(), b.get(), c.get()}) d.prefill(*g);
    expect_breakdown(*kv, nullptr, {10 + 30 + 50, 20 + 5 + 40, 145, 0, 700});
    for (int i = 0; i < 3; ++i) {
      for (auto* g : {a.get(), b.get(), c.get()}) ASSERT_TRUE(d.decode(*g));
    }
    expect_breakdown(*kv, nullptr, {90 + 9, 65 - 9, 145, 0, 700});
    EXPECT_EQ(kv->free_slots(), 700);
  }
}

TEST(ContiguousTest, OracleReservesExactlyTheFinalLength) {
  auto kv = make(contiguous_config(1000, "oracle", "first-fit", 100));
  KvDriver d(*kv);
  auto a = d.new_group(make_spec(1, 10, 20));
  auto b = d.new_group(make_spec(2, 30, 5));
  auto c = d.new_group(make_spec(3, 50, 40));
  std::vector<SequenceGroup*> groups = {a.get(), b.get(), c.get()};
  for (auto* g : groups) ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
  EXPECT_EQ(where(*kv, a->seqs[0]), Span(0, 30));
  EXPECT_EQ(where(*kv, b->seqs[0]), Span(30, 35));
  EXPECT_EQ(where(*kv, c->seqs[0]), Span(65, 90));
  for (auto* g : groups) d.prefill(*g);
  for (bool running = true; running;) {
    EXPECT_EQ(kv->breakdown(nullptr).internal_frag, 0);
    running = false;
    for (auto* g : groups) {
      if (g->is_finished()) continue;
      ASSERT_TRUE(d.decode(*g)) << "an oracle reservation never needs to grow";
      running = true;
    }
  }
  EXPECT_EQ(kv->free_slots(), 1000);
}

// Orca-Pow2 with buddy placement (capacity 256, one tree): regions of 32, 64 and 8 slots.
TEST(ContiguousTest, Pow2WithBuddyLeavesTheExpectedHoles) {
  auto kv = make(contiguous_config(256, "pow2", "buddy", 128));
  KvDriver d(*kv);
  auto a = d.new_group(make_spec(1, 10, 10));  // final 20 -> 32
  auto b = d.new_group(make_spec(2, 40, 20));  // final 60 -> 64
  auto c = d.new_group(make_spec(3, 3, 2));    // final 5 -> 8
  for (auto* g : {a.get(), b.get(), c.get()}) {
    ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
    d.prefill(*g);
  }
  // a splits 256 -> 128 -> 64 -> 32 and takes [0,32); b takes the free 64 at [64,128);
  // c splits the free 32 at [32,64) down to 8 and takes [32,40).
  EXPECT_EQ(where(*kv, a->seqs[0]), Span(0, 32));
  EXPECT_EQ(where(*kv, b->seqs[0]), Span(64, 64));
  EXPECT_EQ(where(*kv, c->seqs[0]), Span(32, 8));
  // Holes: [40,48) 8 slots, [48,64) 16 slots, [128,256) 128 slots.
  EXPECT_EQ(kv->free_slots(), 8 + 16 + 128);
  // Computed: the prompts. Reserved: up to the final lengths. Internal: the rest of each block.
  expect_breakdown(*kv, nullptr,
                   {10 + 40 + 3, (20 - 10) + (60 - 40) + (5 - 3), 12 + 4 + 3, 0, 152});
  // External fragmentation depends on the head of line's block: 128 and 64 fit only the
  // 128-slot hole, so the 8 and 16 are external; 16 fits the 16 hole, so only the 8 is.
  auto wants_128 = d.new_group(make_spec(4, 50, 50));  // final 100 -> 128
  auto wants_64 = d.new_group(make_spec(5, 20, 13));   // final 33 -> 64
  auto wants_16 = d.new_group(make_spec(6, 6, 6));     // final 12 -> 16
  auto wants_8 = d.new_group(make_spec(7, 4, 4));      // final 8 -> 8
  expect_breakdown(*kv, wants_128.get(), {53, 32, 19, 24, 128});
  expect_breakdown(*kv, wants_64.get(), {53, 32, 19, 24, 128});
  expect_breakdown(*kv, wants_16.get(), {53, 32, 19, 8, 144});
  expect_breakdown(*kv, wants_8.get(), {53, 32, 19, 0, 152});

  // Releases coalesce buddies only: b's [64,128) cannot join [48,64) (not its buddy).
  d.abort(*b);
  EXPECT_EQ(kv->breakdown(wants_128.get()).external_frag, 8 + 16 + 64);
  d.abort(*c);  // [32,40) + [40,48) -> [32,48) + [48,64) -> [32,64); [0,32) is held
  EXPECT_EQ(kv->breakdown(wants_128.get()).external_frag, 32 + 64);
  d.abort(*a);  // everything back into one 256 block
  EXPECT_EQ(kv->breakdown(wants_128.get()).external_frag, 0);
  EXPECT_EQ(kv->free_slots(), 256);
}

TEST(ContiguousTest, BuddyRoundingIsInternalFragmentation) {
  auto kv = make(contiguous_config(256, "max", "buddy", 48));  // 48 rounds up to 64
  KvDriver d(*kv);
  auto a = d.new_group(make_spec(1, 10, 10));  // final 20
  ASSERT_EQ(d.try_admit(*a), AllocStatus::kOk);
  d.prefill(*a);
  EXPECT_EQ(where(*kv, a->seqs[0]), Span(0, 64));
  expect_breakdown(*kv, nullptr, {10, 10, 64 - 20, 0, 192});
}

// First-fit, oracle, capacity 100: three 30-slot regions, the middle one released, leave
// holes of 30 at [30,60) and 10 at [90,100).
TEST(ContiguousTest, ExternalFragmentationWhenTheHeadOfLineFitsNoGap) {
  for (const char* placement : {"first-fit", "best-fit"}) {
    SCOPED_TRACE(placement);
    auto kv = make(contiguous_config(100, "oracle", placement, 100));
    KvDriver d(*kv);
    std::vector<std::unique_ptr<SequenceGroup>> g;
    for (int i = 0; i < 3; ++i) {
      g.push_back(d.new_group(make_spec(i + 1, 10, 20)));
      ASSERT_EQ(d.try_admit(*g.back()), AllocStatus::kOk);
      d.prefill(*g.back());
    }
    EXPECT_EQ(where(*kv, g[2]->seqs[0]), Span(60, 30));
    d.abort(*g[1]);
    ASSERT_EQ(kv->free_slots(), 40);
    // Held by the two remaining requests: 20 computed, 40 reserved.

    // Needs 35: 40 slots are free, but no gap holds 35 -> all 40 are external fragmentation.
    auto needs_35 = d.new_group(make_spec(10, 10, 25));
    EXPECT_EQ(kv->can_admit(*needs_35), AllocStatus::kLater);
    expect_breakdown(*kv, needs_35.get(), {20, 40, 0, 40, 0});
    // Needs 30: the 30-slot hole holds it; only the 10-slot hole is too small.
    auto needs_30 = d.new_group(make_spec(11, 10, 20));
    expect_breakdown(*kv, needs_30.get(), {20, 40, 0, 10, 30});
    // Needs 5: every hole holds it.
    auto needs_5 = d.new_group(make_spec(12, 2, 3));
    expect_breakdown(*kv, needs_5.get(), {20, 40, 0, 0, 40});
    // No head of line: nothing is external.
    expect_breakdown(*kv, nullptr, {20, 40, 0, 0, 40});

    ASSERT_EQ(d.try_admit(*needs_30), AllocStatus::kOk);
    EXPECT_EQ(where(*kv, needs_30->seqs[0]), Span(30, 30));
    expect_breakdown(*kv, needs_35.get(), {20, 70, 0, 10, 0});
  }
}

TEST(ContiguousTest, ForkCopiesTheParentsComputedTokensIntoAHeldRegion) {
  auto kv = make(contiguous_config(100, "oracle", "first-fit", 100));
  KvDriver d(*kv);
  auto g = d.new_group(make_spec(1, 10, 5, 3));  // final 15, three samples
  ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
  // One region for the prompt's sequence and two held for the samples: 45 slots.
  EXPECT_EQ(where(*kv, g->seqs[0]), Span(0, 15));
  EXPECT_EQ(kv->free_slots(), 55);
  expect_breakdown(*kv, nullptr, {0, 45, 0, 0, 55});
  ASSERT_TRUE(d.prefill(*g));

  // The Engine's fork: children are the parent before its first sample, plus their own.
  Sequence& parent = g->seqs[0];
  Sequence before = parent;
  before.num_generated -= 1;
  before.token_ids.pop_back();
  std::vector<KvCopy> copies;
  for (int i = 1; i < 3; ++i) {
    Sequence& child = g->add_child(before, make_seq_id(g->id(), i));
    child.num_generated += 1;
    child.token_ids.push_back(d.tokens().next());
    const std::vector<KvCopy> c = kv->fork(parent, child);
    copies.insert(copies.end(), c.begin(), c.end());
  }
  EXPECT_EQ(copies, (std::vector<KvCopy>{{0, 15, 10}, {0, 30, 10}}));
  d.arena().copy_device(copies);
  EXPECT_EQ(where(*kv, g->seqs[1]), Span(15, 15));
  EXPECT_EQ(where(*kv, g->seqs[2]), Span(30, 15));
  EXPECT_EQ(kv->free_slots(), 55);  // the fork took held regions, nothing new
  // Nothing is shared: every sample counts its own copy of the prompt.
  expect_breakdown(*kv, nullptr, {30, 15, 0, 0, 55});
  d.expect_data(*g);
  while (!g->is_finished()) {
    ASSERT_TRUE(d.decode(*g));
    d.expect_data(*g);
  }
  EXPECT_EQ(kv->free_slots(), 100);
}

TEST(ContiguousTest, AdmissionReservesEverySampleAtOnce) {
  auto kv = make(contiguous_config(100, "oracle", "first-fit", 100));
  KvDriver d(*kv);
  auto six = d.new_group(make_spec(1, 10, 5, 6));    // 6 x 15 = 90
  auto seven = d.new_group(make_spec(2, 10, 5, 7));  // 7 x 15 = 105 > 100
  EXPECT_EQ(kv->can_admit(*seven), AllocStatus::kNever);
  ASSERT_EQ(d.try_admit(*six), AllocStatus::kOk);
  EXPECT_EQ(kv->free_slots(), 10);
  auto two = d.new_group(make_spec(3, 3, 3, 2));  // 2 x 6 = 12 > 10 free
  EXPECT_EQ(kv->can_admit(*two), AllocStatus::kLater);
  // A recompute preemption before the fork gives back the held regions too.
  d.preempt_recompute(*six);
  EXPECT_EQ(kv->free_slots(), 100);

  // Buddy over 100 slots = trees of 64, 32 and 4: two 40-slot samples need two 64 blocks.
  auto buddy = make(contiguous_config(100, "oracle", "buddy", 100));
  KvDriver b(*buddy);
  auto pair_of_40 = b.new_group(make_spec(4, 20, 20, 2));
  EXPECT_EQ(buddy->can_admit(*pair_of_40), AllocStatus::kNever);
  auto three_of_20 = b.new_group(make_spec(5, 10, 10, 3));  // 32 + 32 from the 64, 32 tree
  ASSERT_EQ(b.try_admit(*three_of_20), AllocStatus::kOk);
  EXPECT_EQ(where(*buddy, three_of_20->seqs[0]), Span(64, 32));
  EXPECT_EQ(buddy->free_slots(), 4);
}

TEST(ContiguousTest, NeverWhenTheReservationExceedsTheArena) {
  // Orca-Max reserves the context window even for a one-token request.
  auto kv = make(contiguous_config(1000, "max", "first-fit", 2048));
  KvDriver d(*kv);
  auto tiny = d.new_group(make_spec(1, 1, 1));
  EXPECT_EQ(kv->can_admit(*tiny), AllocStatus::kNever);

  // Buddy over 96 slots (trees of 64 and 32): nothing above 64 can ever be placed.
  auto buddy = make(contiguous_config(96, "oracle", "buddy", 100));
  KvDriver b(*buddy);
  auto final_65 = b.new_group(make_spec(2, 30, 35));
  auto final_64 = b.new_group(make_spec(3, 30, 34));
  EXPECT_EQ(buddy->can_admit(*final_65), AllocStatus::kNever);
  EXPECT_EQ(buddy->can_admit(*final_64), AllocStatus::kOk);
  // First-fit over the same 96 slots places 65.
  auto first_fit = make(contiguous_config(96, "oracle", "first-fit", 100));
  EXPECT_EQ(first_fit->can_admit(*final_65), AllocStatus::kOk);
  // Past the arena at its full length, whatever the reservation rule says.
  auto pow2 = make(contiguous_config(96, "pow2", "first-fit", 64));
  auto final_100 = b.new_group(make_spec(4, 50, 50));  // pow2 caps the reservation at 64
  EXPECT_EQ(pow2->can_admit(*final_100), AllocStatus::kNever);
}

// pow2 capped at max_seq_len 16 reserves 16 for a request of final length 20: past its
// reservation the region grows in place when the next range is free, else can_append says no.
TEST(ContiguousTest, AppendGrowsInPlaceOrRefuses) {
  for (const char* placement : {"first-fit", "buddy"}) {
    SCOPED_TRACE(placement);
    auto kv = make(contiguous_config(64, "pow2", placement, 16));
    KvDriver d(*kv);
    auto a = d.new_group(make_spec(1, 10, 10));  // final 20, reserves 16
    auto b = d.new_group(make_spec(2, 4, 4));    // final 8, right after a
    ASSERT_EQ(d.try_admit(*a), AllocStatus::kOk);
    ASSERT_EQ(d.try_admit(*b), AllocStatus::kOk);
    EXPECT_EQ(where(*kv, a->seqs[0]), Span(0, 16));
    EXPECT_EQ(where(*kv, b->seqs[0]), Span(16, 8));
    d.prefill(*a);
    d.prefill(*b);
    for (int i = 0; i < 6; ++i) ASSERT_TRUE(d.decode(*a)) << i;  // tokens 10..15
    EXPECT_EQ(a->seqs[0].num_tokens(), 17);
    EXPECT_FALSE(kv->can_append(*a));  // slot 16 belongs to b
    EXPECT_FALSE(d.decode(*a));
    d.abort(*b);
    ASSERT_TRUE(d.decode(*a));
    const int64_t grown = std::string(placement) == "buddy" ? 32 : 17;
    EXPECT_EQ(where(*kv, a->seqs[0]), Span(0, grown));
    while (!a->is_finished()) ASSERT_TRUE(d.decode(*a));
    EXPECT_EQ(kv->free_slots(), 64);
  }
}

TEST(ContiguousTest, SwapRoundTripMovesComputedTokensAndReservesAgain) {
  auto kv = make(contiguous_config(100, "oracle", "first-fit", 100, 50));
  KvDriver d(*kv);
  auto a = d.new_group(make_spec(1, 10, 10));  // final 20
  ASSERT_EQ(d.try_admit(*a), AllocStatus::kOk);
  d.prefill(*a);
  ASSERT_TRUE(d.decode(*a));  // 11 computed
  ASSERT_EQ(d.try_swap_out(*a), AllocStatus::kOk);
  EXPECT_EQ(d.last_swap_out(), (std::vector<KvCopy>{{0, 0, 11}}));
  EXPECT_EQ(kv->free_slots(), 100);
  // Someone else takes [0,20); swap-in reserves the full region again elsewhere.
  auto c = d.new_group(make_spec(2, 10, 10));
  ASSERT_EQ(d.try_admit(*c), AllocStatus::kOk);
  ASSERT_EQ(d.try_swap_in(*a), AllocStatus::kOk);  // the driver checks a's tokens read back
  EXPECT_EQ(d.last_swap_in(), (std::vector<KvCopy>{{0, 20, 11}}));
  EXPECT_EQ(where(*kv, a->seqs[0]), Span(20, 20));
  EXPECT_EQ(kv->free_slots(), 60);

  // A group that has not forked yet: its held sample regions leave with it and come back.
  auto b = d.new_group(make_spec(3, 5, 5, 2));  // 2 x 10
  ASSERT_EQ(d.try_admit(*b), AllocStatus::kOk);
  EXPECT_EQ(where(*kv, b->seqs[0]), Span(40, 10));
  EXPECT_EQ(kv->free_slots(), 40);
  ASSERT_TRUE(d.prefill(*b));
  ASSERT_EQ(d.try_swap_out(*b), AllocStatus::kOk);
  EXPECT_EQ(d.last_swap_out(), (std::vector<KvCopy>{{40, 0, 5}}));  // a left the host pool
  EXPECT_EQ(kv->free_slots(), 60);
  ASSERT_EQ(d.try_swap_in(*b), AllocStatus::kOk);
  EXPECT_EQ(kv->free_slots(), 40);
  d.fork_samples(*b);  // the held region is there again
  d.expect_data(*b);
  EXPECT_EQ(where(*kv, b->seqs[1]), Span(50, 10));
  for (auto* g : {a.get(), b.get(), c.get()}) {
    if (!g->seqs[0].num_computed) d.prefill(*g);
    while (!g->is_finished()) ASSERT_TRUE(d.decode(*g));
  }
  EXPECT_EQ(kv->free_slots(), 100);
}

TEST(ContiguousTest, SwapAnswersFollowTheHostPool) {
  auto none = make(contiguous_config(100, "oracle", "first-fit", 100, 0));
  KvDriver d0(*none);
  auto a = d0.new_group(make_spec(1, 10, 10));
  ASSERT_EQ(d0.try_admit(*a), AllocStatus::kOk);
  d0.prefill(*a);
  EXPECT_EQ(none->can_swap_out(*a), AllocStatus::kNever);

  auto kv = make(contiguous_config(100, "oracle", "first-fit", 100, 15));
  KvDriver d(*kv);
  auto x = d.new_group(make_spec(1, 10, 10));
  auto y = d.new_group(make_spec(2, 10, 10));
  for (auto* g : {x.get(), y.get()}) {
    ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
    d.prefill(*g);
  }
  ASSERT_EQ(d.try_swap_out(*x), AllocStatus::kOk);  // 10 of 15 host slots
  EXPECT_EQ(kv->can_swap_out(*y), AllocStatus::kLater);
  // Others fill the device, x's old place included: swap-in waits for room.
  auto filler_20 = d.new_group(make_spec(3, 10, 10));
  auto filler_60 = d.new_group(make_spec(4, 30, 30));
  ASSERT_EQ(d.try_admit(*filler_20), AllocStatus::kOk);
  ASSERT_EQ(d.try_admit(*filler_60), AllocStatus::kOk);
  EXPECT_EQ(kv->free_slots(), 0);
  EXPECT_EQ(kv->can_swap_in(*x), AllocStatus::kLater);
  d.abort(*filler_20);
  ASSERT_EQ(d.try_swap_in(*x), AllocStatus::kOk);
  EXPECT_EQ(kv->can_swap_out(*y), AllocStatus::kOk);
}

}  // namespace
}  // namespace kvlab
