#include "core/metrics.h"

#include <gtest/gtest.h>

#include <cmath>

namespace kvlab {
namespace {

TEST(Metrics, PercentileInterpolates) {
  EXPECT_DOUBLE_EQ(percentile({1, 2, 3, 4, 5}, 50), 3);
  EXPECT_DOUBLE_EQ(percentile({5, 1, 4, 2, 3}, 0), 1);
  EXPECT_DOUBLE_EQ(percentile({1, 2, 3, 4, 5}, 100), 5);
  EXPECT_DOUBLE_EQ(percentile({0, 10}, 25), 2.5);
  EXPECT_TRUE(std::isnan(percentile({}, 50)));
}

RequestRecord finished(int64_t id, double arrival, double first, double finish, int out) {
  RequestRecord r;
  r.id = id;
  r.arrival_s = arrival;
  r.first_token_s = first;
  r.finish_s = finish;
  r.prompt_len = 10;
  r.output_len = out;
  r.generated_tokens = out;
  r.outcome = RequestOutcome::kFinished;
  return r;
}

TEST(Metrics, SummaryOfKnownRequestsAndSteps) {
  RunResult run;
  run.requests.push_back(finished(0, 0.0, 1.0, 5.0, 5));   // ttft 1, tpot 1, norm 1
  run.requests.push_back(finished(1, 2.0, 4.0, 10.0, 4));  // ttft 2, tpot 2, norm 2
  RequestRecord rejected;
  rejected.id = 2;
  rejected.outcome = RequestOutcome::kRejected;
  rejected.arrival_s = 3;
  run.requests.push_back(rejected);
  StepRecord a, b;
  a.duration_s = 1;
  a.batch_size = 2;
  a.num_running = 5;
  a.memory = MemoryBreakdown{50, 10, 20, 0, 20, 100};
  b.duration_s = 3;
  b.batch_size = 4;
  b.num_running = 4;
  b.memory = MemoryBreakdown{90, 0, 0, 0, 10, 100};
  run.steps = {a, b};
  const Summary s = summarize(run, 100, 0.5);
  EXPECT_DOUBLE_EQ(s.get("num_requests"), 3);
  EXPECT_DOUBLE_EQ(s.get("num_rejected"), 1);
  EXPECT_DOUBLE_EQ(s.get("num_finished"), 2);
  EXPECT_DOUBLE_EQ(s.get("duration_s"), 10);
  EXPECT_DOUBLE_EQ(s.get("throughput_req_s"), 0.2);
  EXPECT_DOUBLE_EQ(s.get("throughput_tok_s"), 0.9);
  EXPECT_DOUBLE_EQ(s.get("normalized_latency_s_per_tok"), 1.5);
  EXPECT_DOUBLE_EQ(s.get("ttft_p50_s"), 1.5);
  EXPECT_DOUBLE_EQ(s.get("tpot_p50_s"), 1.5);
  EXPECT_DOUBLE_EQ(s.get("mean_batch_size"), (2 * 1 + 4 * 3) / 4.0);
  EXPECT_DOUBLE_EQ(s.get("mean_running_requests"), (5 * 1 + 4 * 3) / 4.0);
  EXPECT_DOUBLE_EQ(s.get("kv_token_states_frac"), (0.5 * 1 + 0.9 * 3) / 4);
  EXPECT_DOUBLE_EQ(s.get("kv_free_frac"), (0.2 * 1 + 0.1 * 3) / 4);
  EXPECT_DOUBLE_EQ(s.get("kv_token_states_of_used_frac"), (0.5 + 2.7) / (0.8 + 2.7));
  EXPECT_DOUBLE_EQ(s.get("generated_tokens"), 9);
  EXPECT_DOUBLE_EQ(s.get("wall_s"), 0.5);
  const double fracs = s.get("kv_token_states_frac") + s.get("kv_reserved_frac") +
                       s.get("kv_internal_frag_frac") + s.get("kv_external_frag_frac") +
                       s.get("kv_free_frac");
  EXPECT_NEAR(fracs, 1.0, 1e-12);
}

TEST(Metrics, DigestDependsOnIdsAndTokensNotOrder) {
  RequestRecord a = finished(0, 0, 1, 2, 2), b = finished(1, 0, 1, 2, 2);
  a.token_ids = {{1, 2}};
  b.token_ids = {{3, 4}};
  const uint64_t d1 = output_digest({a, b});
  EXPECT_EQ(d1, output_digest({b, a}));
  b.token_ids = {{3, 5}};
  EXPECT_NE(d1, output_digest({a, b}));
  b.token_ids = {{3}, {4}};
  EXPECT_NE(d1, output_digest({a, b}));
}

}  // namespace
}  // namespace kvlab
