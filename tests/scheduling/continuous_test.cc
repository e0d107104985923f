// Continuous (iteration-level) batching, prefill-first and chunked: each test is a table of
// the expected state after every step (see scheduler_harness.h for the notation). Memory is
// the paged manager as a plain slot budget (block_size 1, no watermark) so the arithmetic
// in the comments is easy to follow: a prefill holds one slot per token, a decode needs one
// more.
#include <gtest/gtest.h>

#include <vector>

#include "tests/scheduling/scheduler_harness.h"

namespace kvlab::testing {
namespace {

SchedulerConfig continuous(int32_t max_num_seqs, int64_t max_batched_tokens,
                           int32_t chunk_size = 0) {
  return with_settings(SchedulerConfig{.batching = "continuous",
                                       .max_num_seqs = max_num_seqs,
                                       .max_batched_tokens = max_batched_tokens},
                       {{"scheduler.chunk_size", std::to_string(chunk_size)}});
}

// Two places in the batch: request 2 waits for one, and while it is prefilled request 1
// (running) does not decode: prefill-first.
TEST(ContinuousTest, FcfsUpToMaxNumSeqsAndPrefillFirst) {
  SchedulerHarness h(continuous(/*max_num_seqs=*/2, 100), slot_budget(100));
  h.add(0, 0.0, /*prompt=*/4, /*output=*/2);
  h.add(1, 0.0, 3, 3);
  h.add(2, 0.0, 2, 1);
  const std::vector<StepView> steps = {
      {.prefills = "0:0+4* 1:0+3*", .waiting = "2", .running = "0 1"},
      // Still two running: 2 waits. Both decode; 0 is done.
      {.decodes = "0 1", .waiting = "2", .running = "1"},
      // A place is free: 2 is prefilled, and 1 sits this step out.
      {.prefills = "2:0+2*", .running = "1"},
      {.decodes = "1"},
  };
  expect_steps(h, steps);
}

// Request 2 would fit the token budget beside 0, but 1 (ahead of it) does not: no
// overtaking.
TEST(ContinuousTest, TokenBudgetStopsAdmissionWithoutOvertaking) {
  SchedulerHarness h(continuous(8, /*max_batched_tokens=*/8), slot_budget(100));
  h.add(0, 0.0, 5, 1);
  h.add(1, 0.0, 6, 1);
  h.add(2, 0.0, 2, 1);
  const std::vector<StepView> steps = {
      {.prefills = "0:0+5*", .waiting = "1 2"},
      {.prefills = "1:0+6* 2:0+2*"},
  };
  expect_steps(h, steps);
}

// 10 slots: after 0 takes 6, request 1 (5 slots) must wait (manager: later), and 2 (1 slot)
// waits behind it.
TEST(ContinuousTest, MemoryLaterBlocksTheHeadAndEveryoneBehindIt) {
  SchedulerHarness h(continuous(8, 64), slot_budget(10));
  h.add(0, 0.0, 6, 2);
  h.add(1, 0.0, 5, 1);
  h.add(2, 0.0, 1, 1);
  const std::vector<StepView> steps = {
      {.prefills = "0:0+6*", .waiting = "1 2", .running = "0"},
      {.decodes = "0", .waiting = "1 2"},  // 0 finishes and frees its 7 slots
      {.prefills = "1:0+5* 2:0+1*"},
  };
  expect_steps(h, steps);
}

// 10 slots, three requests of 3 prompt tokens take 9. Decodes need a slot each: the
// latest arrival is preempted (LIFO) and recomputed later from prompt + generated tokens;
// recompute-preempted groups queue at the front of waiting in arrival order.
TEST(ContinuousTest, LifoVictimIsRecomputedFromTheFrontOfWaiting) {
  SchedulerHarness h(continuous(8, 64), slot_budget(10));
  for (RequestId id = 0; id < 3; ++id) h.add(id, 0.0, 3, 4);
  const std::vector<StepView> steps = {
      {.prefills = "0:0+3* 1:0+3* 2:0+3*", .running = "0 1 2"},  // 1 slot free
      // 0 takes the free slot; 1 cannot append: 2 (latest) releases its 3.
      {.decodes = "0 1", .preempted = "2:recompute", .waiting = "2", .running = "0 1"},
      // 2 needs 4 slots (3 prompt + 1 generated), 2 are free: it waits; decodes go on.
      {.decodes = "0 1", .waiting = "2", .running = "0 1"},
      // Full again: 1 is now the latest running arrival; it queues ahead of 2.
      {.decodes = "0", .preempted = "1:recompute", .waiting = "1 2"},
      // 0 finished and freed 6: both are re-prefilled over prompt + generated tokens.
      {.prefills = "1:0+6* 2:0+4*", .running = "2"},
      {.decodes = "2", .running = "2"},
      {.decodes = "2"},
  };
  expect_steps(h, steps);
  EXPECT_EQ(h.group(0).num_preemptions, 0);
  for (RequestId id : {1, 2}) {
    EXPECT_EQ(h.group(id).num_preemptions, 1) << id;
    EXPECT_EQ(h.group(id).num_recomputes, 1) << id;
    EXPECT_EQ(h.group(id).num_swaps, 0) << id;
    EXPECT_EQ(h.group(id).status, GroupStatus::kFinished) << id;
  }
}

// chunk_size 4, 6 tokens a step: decodes first, then the running prompts' next chunks, then
// new admissions; only the chunk that reaches the end of a prompt samples (*).
TEST(ContinuousTest, ChunkedPrefillSplitsTheTokenBudget) {
  SchedulerHarness h(continuous(4, /*max_batched_tokens=*/6, /*chunk_size=*/4), slot_budget(100));
  h.add(0, 0.0, 10, 3);
  h.add(1, 0.0, 5, 1);
  h.add(2, 1.5, 3, 2);
  h.add(3, 2.5, 9, 1);
  const std::vector<StepView> steps = {
      {.prefills = "0:0+4 1:0+2", .running = "0 1"},  // 4 + the 2 left
      {.prefills = "0:4+4 1:2+2", .running = "0 1"},
      {.prefills = "0:8+2* 1:4+1* 2:0+3*", .running = "0 2"},  // 2 arrived at 1.5
      {.prefills = "3:0+4", .decodes = "0 2", .running = "0 3"},
      {.prefills = "3:4+4", .decodes = "0", .running = "3"},
      {.prefills = "3:8+1*"},
  };
  expect_steps(h, steps);
}

// Chunked prefill with preemption: the victim (1) is recomputed from its 4 prompt + 2
// generated tokens in chunks, and 2 (queued behind it) only then gets in.
TEST(ContinuousTest, ChunkedPrefillRecomputesAPreemptedGroupInChunks) {
  SchedulerHarness h(continuous(4, 8, 4), slot_budget(10));
  h.add(0, 0.0, 4, 4);
  h.add(1, 0.0, 4, 3);
  h.add(2, 0.0, 2, 1);
  const std::vector<StepView> steps = {
      // The budget (8) is spent on 0 and 1: 2 would fit in memory but gets no token.
      {.prefills = "0:0+4* 1:0+4*", .waiting = "2", .running = "0 1"},
      // 2 free slots go to the decodes; 2 must wait for memory.
      {.decodes = "0 1", .waiting = "2", .running = "0 1"},
      {.decodes = "0", .preempted = "1:recompute", .waiting = "1 2", .running = "0"},
      // 1 needs 6 slots, 3 are free.
      {.decodes = "0", .waiting = "1 2"},
      {.prefills = "1:0+4 2:0+2*", .running = "1"},
      {.prefills = "1:4+2*"},
  };
  expect_steps(h, steps);
  EXPECT_EQ(h.group(1).num_recomputes, 1);
}

// A recomputed sequence holds a slot for every token from its re-admission, so its chunks
// never leave only its last token: that would look like a decode, which asks for a new slot.
// Prompt 3 + 2 generated = 5 tokens in chunks of 4 are cut as 3 + 2, not 4 + 1.
TEST(ContinuousTest, RecomputeChunksNeverLeaveOnlyTheLastToken) {
  SchedulerHarness h(continuous(4, 8, 4), slot_budget(9));
  h.add(0, 0.0, 4, 4);
  h.add(1, 0.0, 3, 3);
  const std::vector<StepView> steps = {
      {.prefills = "0:0+4* 1:0+3*", .running = "0 1"},
      {.decodes = "0 1", .running = "0 1"},
      {.decodes = "0", .preempted = "1:recompute", .waiting = "1", .running = "0"},
      {.decodes = "0", .waiting = "1"},  // 1 needs 5 slots, 2 are free
      {.prefills = "1:0+3", .running = "1"},
      {.prefills = "1:3+2*"},
  };
  expect_steps(h, steps);
}

}  // namespace
}  // namespace kvlab::testing
