// Static (request-level) batching against continuous batching on the same workload, and
// static batching under memory pressure. Notation: scheduler_harness.h.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/scheduling/scheduler_harness.h"

namespace kvlab::testing {
namespace {

SchedulerConfig batching(const std::string& name, int32_t max_num_seqs) {
  return SchedulerConfig{.batching = name, .max_num_seqs = max_num_seqs, .max_batched_tokens = 64};
}

// Two places. 0 (one output token) finishes after the prefill, 1 (three) runs on; 2 did not
// fit the first batch and 3 arrives at 1.5.
void add_mixed_lengths(SchedulerHarness& h) {
  h.add(0, 0.0, 2, 1);
  h.add(1, 0.0, 2, 3);
  h.add(2, 0.0, 2, 1);
  h.add(3, 1.5, 1, 1);
}

TEST(StaticTest, BatchRunsUntilItsLastRequestFinishes) {
  SchedulerHarness h(batching("static", 2), slot_budget(100));
  add_mixed_lengths(h);
  const std::vector<StepView> steps = {
      {.prefills = "0:0+2* 1:0+2*", .waiting = "2", .running = "1"},
      // 0's place idles: 2 waits although a place and memory are free.
      {.decodes = "1", .waiting = "2", .running = "1"},
      // 3 arrived; it waits for the whole batch too.
      {.decodes = "1", .waiting = "2 3"},
      // The batch is done: the next one takes both.
      {.prefills = "2:0+2* 3:0+1*"},
  };
  expect_steps(h, steps);
}

TEST(StaticTest, ContinuousBatchingFillsTheFreedPlaceAtOnce) {
  SchedulerHarness h(batching("continuous", 2), slot_budget(100));
  add_mixed_lengths(h);
  const std::vector<StepView> steps = {
      {.prefills = "0:0+2* 1:0+2*", .waiting = "2", .running = "1"},
      {.prefills = "2:0+2*", .running = "1"},  // 0's place goes to 2 the next step
      {.prefills = "3:0+1*", .running = "1"},  // and 2's to 3
      {.decodes = "1", .running = "1"},
      {.decodes = "1"},
  };
  expect_steps(h, steps);
}

// 8 slots, two requests of 3 prompt tokens: the batch runs out of memory in step 2 and the
// latest member is recomputed. It is re-admitted alone, ahead of 2 (arrived during the
// batch), which waits for the batch to end even though memory would admit it.
TEST(StaticTest, PreemptedMemberRejoinsItsBatchBeforeNewArrivals) {
  SchedulerHarness h(batching("static", 8), slot_budget(8));
  h.add(0, 0.0, 3, 3);
  h.add(1, 0.0, 3, 3);
  h.add(2, 0.5, 1, 1);
  const std::vector<StepView> steps = {
      {.prefills = "0:0+3* 1:0+3*", .running = "0 1"},  // 2 slots free
      {.decodes = "0 1", .waiting = "2", .running = "0 1"},
      {.decodes = "0", .preempted = "1:recompute", .waiting = "1 2"},
      // Prompt 3 + 2 generated tokens; 3 of the 8 slots stay free, and 2 needs only 1.
      {.prefills = "1:0+5*", .waiting = "2"},
      {.prefills = "2:0+1*"},
  };
  expect_steps(h, steps);
  EXPECT_EQ(h.group(1).num_recomputes, 1);
}

// Swap within a static batch: the swapped member comes back before anything new starts.
TEST(StaticTest, SwappedMemberReturnsBeforeTheNextBatch) {
  SchedulerConfig config = batching("static", 8);
  config.settings.set("scheduler.preemption", "swap");
  SchedulerHarness h(config, slot_budget(8, 16));
  h.add(0, 0.0, 3, 3);
  h.add(1, 0.0, 3, 3);
  h.add(2, 0.5, 1, 1);
  const std::vector<StepView> steps = {
      {.prefills = "0:0+3* 1:0+3*", .running = "0 1"},
      {.decodes = "0 1", .waiting = "2", .running = "0 1"},
      {.decodes = "0", .preempted = "1:swap", .waiting = "2", .swapped = "1", .swap_out = 4},
      {.decodes = "1", .waiting = "2", .swap_in = 4},
      {.prefills = "2:0+1*"},
  };
  expect_steps(h, steps);
}

}  // namespace
}  // namespace kvlab::testing
