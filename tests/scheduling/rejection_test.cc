// Requests that can never run are rejected with a reason, never left waiting: one test per
// rule, each beside a request that runs, for both batching policies.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/scheduling/scheduler_harness.h"

namespace kvlab::testing {
namespace {

using ::testing::HasSubstr;

class RejectionTest : public ::testing::TestWithParam<std::string> {
 protected:
  // max_seq_len 16, two places, 8 tokens a step, 12 slots.
  SchedulerConfig config() const {
    return SchedulerConfig{
        .batching = GetParam(), .max_num_seqs = 2, .max_batched_tokens = 8, .max_seq_len = 16};
  }
};

TEST_P(RejectionTest, EachRuleRejectsWithAReadableReason) {
  SchedulerHarness h(config(), slot_budget(12));
  h.add(0, 0.0, 10, 7);          // 17 tokens > max_seq_len 16
  h.add(1, 0.0, 4, 2, /*n=*/3);  // 3 samples > max_num_seqs 2
  h.add(2, 0.0, 9, 1);           // prompt 9 > max_batched_tokens 8, no chunking
  h.add(3, 0.0, 7, 6);           // 13 slots at full length > 12: the manager says never
  h.add(4, 0.0, 2, 1);           // fine
  expect_steps(h, {{.prefills = "4:0+2*", .rejected = "0 1 2 3"}});

  const std::vector<std::string> reasons = {"max_seq_len 16", "scheduler.max_num_seqs 2",
                                            "scheduler.max_batched_tokens 8", "never hold"};
  for (RequestId id = 0; id < 4; ++id) {
    const SequenceGroup& g = h.group(id);
    EXPECT_EQ(g.status, GroupStatus::kRejected) << id;
    EXPECT_THAT(g.reject_reason, HasSubstr(reasons[static_cast<size_t>(id)])) << id;
    for (const Sequence& s : g.seqs) EXPECT_EQ(s.status, SeqStatus::kFinished) << id;
  }
  EXPECT_EQ(h.group(4).status, GroupStatus::kFinished);
  const RunResult result = h.engine().result(0.0);
  EXPECT_EQ(result.requests[0].outcome, RequestOutcome::kRejected);
  EXPECT_THAT(result.requests[3].reject_reason, HasSubstr("paged"));
}

// A rejected request behind a request that waits for memory is rejected when it reaches the
// front, and the queue moves on.
TEST_P(RejectionTest, RejectionWaitsForTheFrontOfTheQueue) {
  SchedulerHarness h(config(), slot_budget(12));
  h.add(0, 0.0, 8, 3);
  h.add(1, 0.0, 5, 1);   // 5 slots: only 4 free while 0 runs
  h.add(2, 0.0, 10, 7);  // too long
  h.add(3, 0.0, 1, 1);
  // Both policies agree here: 0 runs alone (1 does not fit beside it), then the rest.
  const std::vector<StepView> steps = {
      {.prefills = "0:0+8*", .waiting = "1 2 3", .running = "0"},
      {.decodes = "0", .waiting = "1 2 3", .running = "0"},
      {.decodes = "0", .waiting = "1 2 3"},
      {.prefills = "1:0+5* 3:0+1*", .rejected = "2"},
  };
  expect_steps(h, steps);
}

INSTANTIATE_TEST_SUITE_P(Batching, RejectionTest, ::testing::Values("continuous", "static"));

// With chunked prefill a prompt longer than max_batched_tokens runs, chunk by chunk.
TEST(ChunkedRejectionTest, LongPromptIsChunkedNotRejected) {
  SchedulerHarness h(with_settings(SchedulerConfig{.batching = "continuous",
                                                   .max_num_seqs = 2,
                                                   .max_batched_tokens = 8,
                                                   .max_seq_len = 16},
                                   {{"scheduler.chunk_size", "4"}}),
                     slot_budget(100));
  h.add(0, 0.0, 9, 1);
  expect_steps(h, {{.prefills = "0:0+4", .running = "0"},
                   {.prefills = "0:4+4", .running = "0"},
                   {.prefills = "0:8+1*"}});
}

}  // namespace
}  // namespace kvlab::testing
