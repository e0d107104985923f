// The KvCacheManager contract, checked the same way for every memory configuration (paged at
// block sizes 1, 16, 256; contiguous for each reservation x placement), each created by name
// from memory_policies(). Every operation goes through KvDriver, which audits the manager and
// checks that the breakdown sums to capacity after it; data is checked through a shadow arena
// that replays the manager's copies, so a missed copy-on-write or a lost swap shows up as a
// sequence reading back someone else's token.
#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <vector>

#include "tests/memory/kv_test_util.h"

namespace kvlab {
namespace {

using testutil::KvDriver;
using testutil::make_spec;
using testutil::MemoryCase;

constexpr int64_t kCapacity = 2048;
constexpr int64_t kSwap = 2048;
constexpr int32_t kMaxSeqLen = 256;
constexpr int32_t kProbePrompt = 64;  // host-pool probe groups: few enough to stay fast

class MemoryConformance : public ::testing::TestWithParam<MemoryCase> {
 protected:
  MemoryConfig config() const { return GetParam().config; }
  std::unique_ptr<KvCacheManager> make(const MemoryConfig& c) const {
    return testutil::create_manager(c);
  }
  std::unique_ptr<KvCacheManager> make() const { return make(config()); }

  // Decodes `g` until it finishes, checking its data after every step.
  static void run_to_completion(KvDriver& d, SequenceGroup& g) {
    while (!g.is_finished()) {
      ASSERT_TRUE(d.decode(g)) << "can_append refused a lone group";
      d.expect_data(g);
    }
  }

  static void expect_empty(KvCacheManager& kv) {
    EXPECT_EQ(kv.free_slots(), kv.capacity_slots());
    const MemoryBreakdown b = kv.breakdown(nullptr);
    EXPECT_EQ(b.free + b.cached, kv.capacity_slots());  // a prefix cache keeps what it may reuse
    EXPECT_EQ(b.token_states + b.reserved + b.internal_frag + b.external_frag, 0);
  }

  // Nothing leaked on the host either: as many probe groups swap out as on a fresh manager.
  void expect_host_pool_empty(KvCacheManager& kv) const {
    auto fresh = make(kv_config_);
    EXPECT_EQ(testutil::count_swappable_groups(kv, kProbePrompt),
              testutil::count_swappable_groups(*fresh, kProbePrompt));
  }

  MemoryConfig kv_config_ = GetParam().config;
};

TEST_P(MemoryConformance, StartsEmptyWithTheConfiguredCapacity) {
  auto kv = make();
  EXPECT_GT(kv->capacity_slots(), 0);
  EXPECT_LE(kv->capacity_slots(), kCapacity);
  EXPECT_GT(kv->host_capacity_slots(), 0);
  EXPECT_LE(kv->host_capacity_slots(), kSwap);
  EXPECT_FALSE(kv->name().empty());
  kv->audit();
  expect_empty(*kv);
  EXPECT_EQ(kv->breakdown(nullptr).capacity, kv->capacity_slots());
}

TEST_P(MemoryConformance, AdmissionAnswersOkLaterNever) {
  auto kv = make();
  KvDriver d(*kv);
  // Larger than the whole arena at its full length: never.
  auto huge = d.new_group(make_spec(1, 100, static_cast<int32_t>(kCapacity)));
  EXPECT_EQ(kv->can_admit(*huge), AllocStatus::kNever);
  auto small = d.new_group(make_spec(2, 10, 10));
  EXPECT_EQ(kv->can_admit(*small), AllocStatus::kOk);

  // Fill the arena with one shape until admission says later (not never).
  std::vector<std::unique_ptr<SequenceGroup>> admitted;
  AllocStatus last = AllocStatus::kOk;
  for (int id = 10; id < 10000 && last == AllocStatus::kOk; ++id) {
    auto g = d.new_group(make_spec(id, 64, 64));
    last = d.try_admit(*g);
    if (last == AllocStatus::kOk) {
      d.prefill(*g);
      admitted.push_back(std::move(g));
    } else {
      EXPECT_EQ(last, AllocStatus::kLater);
      // Still later while nothing is released; the huge one is still never.
      EXPECT_EQ(kv->can_admit(*g), AllocStatus::kLater);
      EXPECT_EQ(kv->can_admit(*huge), AllocStatus::kNever);
      // Releasing one group of the same shape makes room for it.
      d.abort(*admitted.front());
      EXPECT_EQ(d.try_admit(*g), AllocStatus::kOk);
      admitted.push_back(std::move(g));
    }
  }
  EXPECT_EQ(last, AllocStatus::kLater);
  EXPECT_GE(admitted.size(), 2u);
  EXPECT_LT(kv->free_slots(), kv->capacity_slots());
  for (auto& g : admitted) d.abort(*g);
  expect_empty(*kv);
  EXPECT_EQ(kv->can_admit(*small), AllocStatus::kOk);
}

TEST_P(MemoryConformance, BreakdownCountsComputedTokensAndReservations) {
  auto kv = make();
  KvDriver d(*kv);
  auto g = d.new_group(make_spec(1, 40, 60));
  ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
  MemoryBreakdown b = kv->breakdown(nullptr);
  EXPECT_EQ(b.token_states, 0);
  EXPECT_GE(b.reserved, 40);  // the prompt's slots are held, not computed yet
  d.prefill(*g);
  Sequence& s = g->seqs[0];
  while (!g->is_finished()) {
    b = kv->breakdown(nullptr);
    EXPECT_EQ(b.token_states, s.num_computed);
    EXPECT_LE(b.reserved, s.final_len() - s.num_computed);
    EXPECT_EQ(b.token_states + b.reserved + b.internal_frag,
              kv->capacity_slots() - kv->free_slots());
    ASSERT_TRUE(d.decode(*g));
    d.expect_data(*g);
  }
  expect_empty(*kv);
}

TEST_P(MemoryConformance, InterleavedGrowthKeepsEverySequencesTokens) {
  auto kv = make();
  KvDriver d(*kv);
  std::vector<std::unique_ptr<SequenceGroup>> groups;
  const int32_t shapes[][2] = {{1, 30}, {15, 17}, {16, 16}, {17, 40}, {100, 20}, {33, 1}};
  for (int i = 0; i < 6; ++i) {
    auto g = d.new_group(make_spec(i + 1, shapes[i][0], shapes[i][1]));
    ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
    d.prefill(*g);
    groups.push_back(std::move(g));
  }
  for (bool progress = true; progress;) {
    progress = false;
    for (auto& g : groups) {
      if (g->is_finished()) continue;
      ASSERT_TRUE(d.decode(*g));
      progress = true;
    }
    for (auto& g : groups) d.expect_data(*g);
  }
  expect_empty(*kv);
}

TEST_P(MemoryConformance, ForkSharesThePromptAndCopiesOnWrite) {
  auto kv = make();
  KvDriver d(*kv);
  int id = 1;
  // Prompts below, at, and past block boundaries (1, 15, 16, 17, 255 for the paged sizes).
  for (int32_t prompt : {1, 15, 16, 17, 100, 200}) {
    SCOPED_TRACE("prompt " + std::to_string(prompt));
    auto g = d.new_group(make_spec(id++, prompt, 40, 3));
    ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
    ASSERT_TRUE(d.prefill(*g));
    d.fork_samples(*g);
    ASSERT_EQ(g->seqs.size(), 3u);
    d.expect_data(*g);
    const MemoryBreakdown b = kv->breakdown(nullptr);
    EXPECT_GE(b.token_states, prompt);      // the prompt at least once
    EXPECT_LE(b.token_states, 3 * prompt);  // at most once per sample
    // The samples' first tokens differ: after one decode each must read back its own.
    ASSERT_TRUE(d.decode(*g));
    d.expect_data(*g);
    run_to_completion(d, *g);
    expect_empty(*kv);
  }
}

TEST_P(MemoryConformance, ForkedSamplesThatFinishAtOnceHoldNothing) {
  auto kv = make();
  KvDriver d(*kv);
  auto g = d.new_group(make_spec(1, 20, 1, 4));
  ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
  ASSERT_TRUE(d.prefill(*g));
  d.fork_samples(*g);
  EXPECT_TRUE(g->is_finished());
  expect_empty(*kv);
}

TEST_P(MemoryConformance, SwapRoundTripsPreserveData) {
  auto kv = make();
  KvDriver d(*kv);
  auto single = d.new_group(make_spec(1, 37, 50));
  auto forked = d.new_group(make_spec(2, 20, 50, 3));
  ASSERT_EQ(d.try_admit(*single), AllocStatus::kOk);
  ASSERT_EQ(d.try_admit(*forked), AllocStatus::kOk);
  d.prefill(*single);
  ASSERT_TRUE(d.prefill(*forked));
  d.fork_samples(*forked);
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(d.decode(*single));
      ASSERT_TRUE(d.decode(*forked));
    }
    for (SequenceGroup* g : {single.get(), forked.get()}) {
      const int64_t free_before = kv->free_slots();
      ASSERT_EQ(d.try_swap_out(*g), AllocStatus::kOk);
      EXPECT_GT(kv->free_slots(), free_before);
      EXPECT_FALSE(d.last_swap_out().empty());
    }
    expect_empty(*kv);  // both groups live on the host now
    for (SequenceGroup* g : {forked.get(), single.get()}) {
      ASSERT_EQ(d.try_swap_in(*g), AllocStatus::kOk);  // checks the data read back
      EXPECT_FALSE(d.last_swap_in().empty());
    }
  }
  run_to_completion(d, *single);
  run_to_completion(d, *forked);
  expect_empty(*kv);
  expect_host_pool_empty(*kv);
}

TEST_P(MemoryConformance, SwapOutIsNeverWhenTheHostPoolIsTooSmall) {
  MemoryConfig c = config();
  c.swap_capacity_slots = 64;
  kv_config_ = c;
  auto kv = make(c);
  KvDriver d(*kv);
  auto g = d.new_group(make_spec(1, 200, 20));  // 200 computed tokens cannot fit in 64 slots
  ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
  d.prefill(*g);
  EXPECT_EQ(d.try_swap_out(*g), AllocStatus::kNever);
  run_to_completion(d, *g);
  expect_empty(*kv);
}

TEST_P(MemoryConformance, SwapOutWaitsForHostRoomAndSwapInForDeviceRoom) {
  MemoryConfig c = config();
  c.swap_capacity_slots = 1024;
  kv_config_ = c;
  auto kv = make(c);
  KvDriver d(*kv);
  std::vector<std::unique_ptr<SequenceGroup>> out;
  // Swap out groups of one shape until the host pool says later.
  AllocStatus last = AllocStatus::kOk;
  for (int id = 1; id < 1000 && last == AllocStatus::kOk; ++id) {
    auto g = d.new_group(make_spec(id, 100, 50));
    ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
    d.prefill(*g);
    last = d.try_swap_out(*g);
    out.push_back(std::move(g));
  }
  ASSERT_EQ(last, AllocStatus::kLater);
  ASSERT_GE(out.size(), 2u);
  SequenceGroup& blocked = *out.back();  // still on the device
  SequenceGroup& first = *out.front();   // on the host
  // Fill the device until admission of the host group's shape is later: swap in waits too.
  std::vector<std::unique_ptr<SequenceGroup>> fillers;
  for (int id = 5000; id < 6000; ++id) {
    auto g = d.new_group(make_spec(id, 100, 50));
    if (d.try_admit(*g) != AllocStatus::kOk) break;
    d.prefill(*g);
    fillers.push_back(std::move(g));
  }
  EXPECT_EQ(kv->can_swap_in(first), AllocStatus::kLater);
  for (auto& g : fillers) d.abort(*g);
  // Room on the device: swap the first one in; that frees host room for the blocked one.
  ASSERT_EQ(d.try_swap_in(first), AllocStatus::kOk);
  EXPECT_EQ(d.try_swap_out(blocked), AllocStatus::kOk);
  ASSERT_EQ(d.try_swap_in(blocked), AllocStatus::kOk);
  for (auto& g : out) {
    if (g->status == GroupStatus::kSwapped) {
      ASSERT_EQ(d.try_swap_in(*g), AllocStatus::kOk);
    }
    run_to_completion(d, *g);
  }
  expect_empty(*kv);
  expect_host_pool_empty(*kv);
}

TEST_P(MemoryConformance, RecomputeReadmitsAForkedGroup) {
  auto kv = make();
  KvDriver d(*kv);
  auto g = d.new_group(make_spec(1, 30, 30, 3));
  ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
  ASSERT_TRUE(d.prefill(*g));
  d.fork_samples(*g);
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(d.decode(*g));
  d.preempt_recompute(*g);
  expect_empty(*kv);
  ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
  EXPECT_FALSE(d.prefill(*g));  // already forked: each sample recomputes its own tokens
  d.expect_data(*g);
  run_to_completion(d, *g);
  expect_empty(*kv);
}

// A small FCFS scheduler with recompute preemption (latest admitted first) runs a workload
// that oversubscribes the arena; everything finishes, data intact, nothing leaked.
TEST_P(MemoryConformance, ExhaustionWithPreemptionRunsEverythingToCompletion) {
  auto kv = make();
  KvDriver d(*kv);
  testutil::Rng rng(7);
  std::vector<std::unique_ptr<SequenceGroup>> all;
  std::deque<SequenceGroup*> waiting;
  std::deque<SequenceGroup*> running;
  for (int id = 1; id <= 40; ++id) {
    const int32_t prompt = static_cast<int32_t>(rng.uniform(1, 150));
    const int32_t output = static_cast<int32_t>(rng.uniform(1, kMaxSeqLen - prompt));
    const int32_t n = rng.chance(0.3) ? 2 : 1;
    all.push_back(d.new_group(make_spec(id, prompt, output, n)));
    waiting.push_back(all.back().get());
  }
  int64_t later_answers = 0;
  for (int step = 0; step < 100000 && (!waiting.empty() || !running.empty()); ++step) {
    d.set_head_of_line(waiting.empty() ? nullptr : waiting.front());
    while (!waiting.empty()) {
      SequenceGroup& g = *waiting.front();
      const AllocStatus s = d.try_admit(g);
      ASSERT_NE(s, AllocStatus::kNever) << "request " << g.id();
      if (s == AllocStatus::kLater) {
        ++later_answers;
        break;
      }
      waiting.pop_front();
      if (d.prefill(g)) d.fork_samples(g);
      if (!g.is_finished()) running.push_back(&g);
    }
    d.set_head_of_line(waiting.empty() ? nullptr : waiting.front());
    for (size_t i = 0; i < running.size(); ++i) {
      SequenceGroup& g = *running[i];
      while (!d.decode(g)) {
        SequenceGroup* victim = running.back();
        running.pop_back();
        d.preempt_recompute(*victim);
        waiting.push_front(victim);
        if (victim == &g) break;
      }
    }
    std::erase_if(running, [](SequenceGroup* g) { return g->is_finished(); });
    for (SequenceGroup* g : running) d.expect_data(*g);
  }
  for (auto& g : all) EXPECT_TRUE(g->is_finished()) << "request " << g->id();
  EXPECT_GT(later_answers, 0) << "the workload should oversubscribe the arena";
  d.set_head_of_line(nullptr);
  expect_empty(*kv);
  expect_host_pool_empty(*kv);
}

TEST_P(MemoryConformance, ReleaseFreesEverythingAGroupHolds) {
  auto kv = make();
  KvDriver d(*kv);
  auto a = d.new_group(make_spec(1, 50, 100, 2));
  auto b = d.new_group(make_spec(2, 70, 30));
  ASSERT_EQ(d.try_admit(*a), AllocStatus::kOk);
  ASSERT_EQ(d.try_admit(*b), AllocStatus::kOk);
  ASSERT_TRUE(d.prefill(*a));
  d.fork_samples(*a);
  d.prefill(*b);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(d.decode(*a));
  ASSERT_EQ(d.try_swap_out(*b), AllocStatus::kOk);
  d.abort(*a);  // device memory
  d.abort(*b);  // host memory
  expect_empty(*kv);
  expect_host_pool_empty(*kv);
}

INSTANTIATE_TEST_SUITE_P(AllPolicies, MemoryConformance,
                         ::testing::ValuesIn(testutil::all_memory_cases(kCapacity, kSwap,
                                                                        kMaxSeqLen)),
                         testutil::case_name);

}  // namespace
}  // namespace kvlab
