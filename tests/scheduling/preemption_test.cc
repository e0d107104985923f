// Preemption modes on groups with several samples (n > 1): recompute, swap, auto, and the
// swap that falls back to recompute when the host pool cannot take the group. Memory is the
// paged manager as a slot budget (block_size 1, no watermark): forked samples share their
// prompt's slots, and each decode needs one slot per sample.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/scheduling/scheduler_harness.h"

namespace kvlab::testing {
namespace {

SchedulerConfig continuous_with(const std::string& preemption) {
  return with_settings(
      SchedulerConfig{.batching = "continuous", .max_num_seqs = 8, .max_batched_tokens = 64},
      {{"scheduler.preemption", preemption}});
}

// 10 slots. Request 0 (one sample, prompt 3) and request 1 (two samples, prompt 2).
// Step 0 prefills both (5 slots: the samples share the prompt), step 1 decodes 0, 1, 1.1
// (8 slots). In step 2, 0 takes one of the 2 free slots; 1 needs 2 and, being the latest
// arrival, preempts itself.
const std::vector<StepView> kRecomputeTable = {
    {.prefills = "0:0+3* 1:0+2*", .running = "0 1"},
    {.decodes = "0 1 1.1", .running = "0 1"},
    {.decodes = "0", .preempted = "1:recompute", .waiting = "1"},
    // Each sample is recomputed on its own: prompt 2 + 2 generated tokens.
    {.prefills = "1:0+4* 1.1:0+4*"},
};
const std::vector<StepView> kSwapTable = {
    {.prefills = "0:0+3* 1:0+2*", .running = "0 1"},
    {.decodes = "0 1 1.1", .running = "0 1"},
    // 4 slots out: the 2 shared prompt slots once, and one of each sample's own.
    {.decodes = "0", .preempted = "1:swap", .swapped = "1", .swap_out = 4},
    {.decodes = "1 1.1", .swap_in = 4},
};

struct ModeCase {
  std::string preemption;
  int64_t swap_slots;
  const std::vector<StepView>* table;
  bool swaps;  // whether request 1 is swapped (else recomputed)
};

class PreemptionModeTest : public ::testing::TestWithParam<ModeCase> {};

TEST_P(PreemptionModeTest, MultiSampleGroup) {
  const ModeCase& c = GetParam();
  SchedulerHarness h(continuous_with(c.preemption), slot_budget(10, c.swap_slots));
  h.add(0, 0.0, 3, 3);
  h.add(1, 0.0, 2, 3, /*n=*/2);
  expect_steps(h, *c.table);
  const SequenceGroup& g = h.group(1);
  EXPECT_EQ(g.num_preemptions, 1);
  EXPECT_EQ(g.num_swaps, c.swaps ? 1 : 0);
  EXPECT_EQ(g.num_recomputes, c.swaps ? 0 : 1);
  EXPECT_EQ(g.swapped_slots, c.swaps ? 8 : 0);
  for (const Sequence& s : g.seqs) EXPECT_EQ(s.num_generated, 3) << seq_label(s);
}

INSTANTIATE_TEST_SUITE_P(
    Modes, PreemptionModeTest,
    ::testing::Values(ModeCase{"recompute", 16, &kRecomputeTable, false},
                      ModeCase{"swap", 16, &kSwapTable, true},
                      // auto: two samples -> swap.
                      ModeCase{"auto", 16, &kSwapTable, true},
                      // The host pool (2 slots) cannot take 4: swap falls back to recompute.
                      ModeCase{"swap", 2, &kRecomputeTable, false},
                      ModeCase{"auto", 2, &kRecomputeTable, false}),
    [](const ::testing::TestParamInfo<ModeCase>& info) {
      return info.param.preemption + "_host" + std::to_string(info.param.swap_slots);
    });

// auto in one step: the two-sample group 2 (latest) is swapped, then the one-sample group 1
// is recomputed. 8 slots, all held after the prefills.
TEST(PreemptionTest, AutoSwapsMultiSampleAndRecomputesSingleSampleGroups) {
  SchedulerHarness h(continuous_with("auto"), slot_budget(8, 16));
  h.add(0, 0.0, 2, 3, /*n=*/2);
  h.add(1, 0.0, 4, 3);
  h.add(2, 0.0, 2, 3, /*n=*/2);
  expect_steps(
      h, {
             {.prefills = "0:0+2* 1:0+4* 2:0+2*", .running = "0 1 2"},
             // 0 needs 2 slots: 2 (latest) is swapped out (2 shared slots); then 1 needs 1: it is
             // the latest left and preempts itself, by recompute.
             {.decodes = "0 0.1",
              .preempted = "2:swap 1:recompute",
              .waiting = "1",
              .running = "0",
              .swapped = "2",
              .swap_out = 2},
             // Nothing is admitted while 2 is out. 2 comes back (2 free slots) but cannot append
             // yet: it runs next time.
             {.decodes = "0 0.1", .waiting = "1", .running = "2", .swap_in = 2},
             // 0 finished: 1 is re-admitted (prompt 4 + 1 generated); the step is prefill-only.
             {.prefills = "1:0+5*", .running = "1 2"},
             // One free slot: 1 decodes, 2 (needs 2) swaps itself out.
             {.decodes = "1", .preempted = "2:swap", .swapped = "2", .swap_out = 2},
             {.decodes = "2 2.1", .running = "2", .swap_in = 2},
             {.decodes = "2 2.1"},
         });
  EXPECT_EQ(h.group(2).num_swaps, 2);
  EXPECT_EQ(h.group(2).num_recomputes, 0);
  EXPECT_EQ(h.group(2).swapped_slots, 8);
  EXPECT_EQ(h.group(1).num_recomputes, 1);
  EXPECT_EQ(h.group(1).num_swaps, 0);
}

// While a group is swapped out nothing new is admitted, even with memory to spare: request 2
// (arrives at 2.5, one slot) waits for 1 to come back first.
TEST(PreemptionTest, NoAdmissionsWhileAGroupIsSwappedOut) {
  SchedulerHarness h(continuous_with("swap"), slot_budget(10, 16));
  h.add(0, 0.0, 2, 3, /*n=*/2);
  h.add(1, 0.0, 2, 3, /*n=*/2);
  h.add(2, 2.5, 1, 1);
  const std::vector<StepView> steps = {
      {.prefills = "0:0+2* 1:0+2*", .running = "0 1"},
      {.decodes = "0 0.1 1 1.1", .running = "0 1"},
      {.decodes = "0 0.1", .preempted = "1:swap", .swapped = "1", .swap_out = 4},
      // 10 slots free, yet 2 waits: 1 is swapped in first and decodes.
      {.decodes = "1 1.1", .waiting = "2", .swap_in = 4},
      {.prefills = "2:0+1*"},
  };
  expect_steps(h, steps);
}

}  // namespace
}  // namespace kvlab::testing
