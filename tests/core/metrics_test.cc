#include "core/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/results_schema.h"
#include "core/step_work.h"

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

// Three finished requests and a rejected one, with hand-computed latencies:
//   id  arrival  scheduled  first token  finish  output  ttft  tpot  e2el  sched delay
//   0   0        0.5        1            5       5       1     1     5     0.5
//   1   2        2          4            10      4       2     2     8     0
//   2   3        5          6            6       1       3     -     3     2
//   3   4 (rejected)
// and steps of batch sizes 2, 4, 6.
RunResult latency_run() {
  RunResult run;
  run.requests.push_back(finished(0, 0.0, 1.0, 5.0, 5));
  run.requests.push_back(finished(1, 2.0, 4.0, 10.0, 4));
  run.requests.push_back(finished(2, 3.0, 6.0, 6.0, 1));
  run.requests[0].first_scheduled_s = 0.5;
  run.requests[1].first_scheduled_s = 2.0;
  run.requests[2].first_scheduled_s = 5.0;
  // Token gaps: request 0's five tokens at 1, 1.5, 2.5, 3.5, 5; request 1's four at 4, 5, 7,
  // 10; request 2 has one token. The rejected request's gap (never counted) is made up.
  run.requests[0].itl_s = {0.5f, 1.0f, 1.0f, 1.5f};
  run.requests[1].itl_s = {1.0f, 2.0f, 3.0f};
  RequestRecord rejected;
  rejected.id = 3;
  rejected.arrival_s = 4;
  rejected.prompt_len = 10;
  rejected.outcome = RequestOutcome::kRejected;
  rejected.itl_s = {100.0f};
  run.requests.push_back(rejected);
  for (int b : {2, 4, 6}) {
    StepRecord s;
    s.duration_s = 1;
    s.batch_size = b;
    run.steps.push_back(s);
  }
  return run;
}

TEST(Metrics, LatencyDistributionsOfKnownRequests) {
  const Summary s = summarize(latency_run(), 100, 0);
  const struct {
    const char* name;
    double want;
  } cases[] = {
      // ttft {1, 2, 3}: rank p/100 * 2, interpolated.
      {"ttft_mean_s", 2.0},
      {"ttft_p50_s", 2.0},
      {"ttft_p90_s", 2.8},
      {"ttft_p99_s", 2.98},
      // tpot {1, 2}: the output_len 1 request has none.
      {"tpot_mean_s", 1.5},
      {"tpot_p50_s", 1.5},
      {"tpot_p90_s", 1.9},
      {"tpot_p99_s", 1.99},
      // itl {0.5, 1, 1, 1, 1.5, 2, 3}: rank p/100 * 6.
      {"itl_mean_s", 10.0 / 7},
      {"itl_p50_s", 1.0},
      {"itl_p90_s", 2.4},
      {"itl_p99_s", 2.94},
      // e2el {3, 5, 8}.
      {"e2el_mean_s", 16.0 / 3},
      {"e2el_p50_s", 5.0},
      {"e2el_p90_s", 7.4},
      {"e2el_p99_s", 7.94},
      // scheduling delay {0, 0.5, 2}.
      {"sched_delay_mean_s", 2.5 / 3},
      {"sched_delay_p50_s", 0.5},
      {"sched_delay_p90_s", 1.7},
      {"sched_delay_p99_s", 1.97},
      // batch sizes {2, 4, 6}, per step.
      {"batch_size_p50", 4.0},
      {"batch_size_p90", 5.6},
      {"batch_size_p99", 5.96},
      // 3 finished over 10 s; prompts 3 x 10 plus 10 generated tokens.
      {"duration_s", 10.0},
      {"throughput_req_s", 0.3},
      {"throughput_total_tok_s", 4.0},
      // No SLO set: every finished request meets them; the rejected one does not.
      {"goodput_req_s", 0.3},
      {"slo_attainment", 0.75},
  };
  for (const auto& c : cases) EXPECT_NEAR(s.get(c.name), c.want, 1e-12) << c.name;
}

TEST(Metrics, GoodputCountsRequestsMeetingEverySloSet) {
  const struct {
    double ttft_ms, tpot_ms, e2el_ms;
    int met;
  } cases[] = {
      {0, 0, 0, 3},           // none set
      {1500, 0, 0, 1},        // ttft 1 only
      {0, 1500, 0, 2},        // tpot 1, and the output_len 1 request (no tpot) meets it
      {0, 0, 5000, 2},        // e2el 5 (bound included) and 3
      {2500, 1500, 6000, 1},  // all three: request 0 alone
      {0.001, 0, 0, 0},       // none meets it
  };
  for (const auto& c : cases) {
    MetricOptions o;
    o.slo_ttft_s = c.ttft_ms / 1000;
    o.slo_tpot_s = c.tpot_ms / 1000;
    o.slo_e2el_s = c.e2el_ms / 1000;
    const Summary s = summarize(latency_run(), 100, 0, o);
    EXPECT_DOUBLE_EQ(s.get("goodput_req_s"), c.met / 10.0) << c.ttft_ms << " " << c.tpot_ms;
    EXPECT_DOUBLE_EQ(s.get("slo_attainment"), c.met / 4.0) << c.ttft_ms << " " << c.tpot_ms;
  }
}

TEST(Metrics, ExtraPercentilesFollowTheFixedValues) {
  MetricOptions o;
  o.percentiles = {50, 95, 99.9};
  const Summary s = summarize(latency_run(), 100, 0, o);
  // 50 is fixed: only 95 and 99.9 add a value per distribution, after the fixed ones.
  ASSERT_EQ(s.values.size(), summary_specs().size() + 2 * summary_distributions().size());
  EXPECT_EQ(s.values[summary_specs().size()].first, "ttft_p95_s");
  EXPECT_NEAR(s.get("ttft_p95_s"), 2.9, 1e-12);
  EXPECT_NEAR(s.get("ttft_p99_9_s"), 2.998, 1e-12);
  EXPECT_NEAR(s.get("e2el_p95_s"), 7.7, 1e-12);
  EXPECT_NEAR(s.get("itl_p95_s"), 2.7, 1e-12);
  EXPECT_NEAR(s.get("itl_p99_9_s"), 2.994, 1e-12);
  EXPECT_NEAR(s.get("sched_delay_p95_s"), 1.85, 1e-12);
  EXPECT_NEAR(s.get("batch_size_p95"), 5.8, 1e-12);
  EXPECT_EQ(percentile_label(99.9), "99_9");
  EXPECT_EQ(percentile_label(5), "5");
}

TEST(Metrics, LatenciesOfARunWithoutFinishedRequestsAreNaN) {
  RunResult run;
  RequestRecord r;
  r.outcome = RequestOutcome::kUnfinished;
  run.requests = {r};
  const Summary s = summarize(run, 100, 0);
  for (const char* name : {"ttft_mean_s", "itl_mean_s", "itl_p50_s", "e2el_p99_s",
                           "sched_delay_p50_s", "batch_size_p50"}) {
    EXPECT_TRUE(std::isnan(s.get(name))) << name;
  }
  EXPECT_EQ(s.get("goodput_req_s"), 0);
  EXPECT_EQ(s.get("slo_attainment"), 0);
}

TEST(Metrics, MfuAndMbuMeansAreTimeWeighted) {
  RunResult run;
  StepRecord a, b;
  a.duration_s = 1;
  a.mfu = 0.5;
  a.mbu = 0.25;
  b.duration_s = 3;
  b.mfu = 0.125;
  b.mbu = 1.0;
  run.steps = {a, b};
  const Summary s = summarize(run, 100, 0);
  EXPECT_DOUBLE_EQ(s.get("mfu_mean"), (0.5 + 0.375) / 4);
  EXPECT_DOUBLE_EQ(s.get("mbu_mean"), (0.25 + 3.0) / 4);
  for (const char* name : {"mfu_mean", "mbu_mean"}) {
    EXPECT_GT(s.get(name), 0) << name;
    EXPECT_LE(s.get(name), 1) << name;
  }
  // No steps (output.record_steps = false), or a back end without peaks: NaN.
  EXPECT_TRUE(std::isnan(summarize(RunResult{}, 100, 0).get("mfu_mean")));
  run.steps[1].mfu = std::nan("");
  EXPECT_TRUE(std::isnan(summarize(run, 100, 0).get("mfu_mean")));
}

TEST(Metrics, UtilizationIsWorkOverTimeTimesPeak) {
  EXPECT_DOUBLE_EQ(utilization(3e12, 0.5, 312e12), 3.0 / 156);
  EXPECT_TRUE(std::isnan(utilization(1, 1, 0)));  // no peak
  EXPECT_TRUE(std::isnan(utilization(1, 0, 1)));  // no time
}

// The work of a known step on a small made-up model (1 GPU): 2 layers, hidden 8, 2 heads of 4
// (q = kv = 8), gated FFN 16, vocab 32, fp16. W_layer = 8*8 + 2*8*8 + 8*8 + 3*8*16 = 640;
// kv_token = 2 * 2 layers * 2 kv heads * 4 * 2 bytes = 64.
TEST(Metrics, WorkCounterCountsAKnownStep) {
  ModelSpec m;
  m.num_layers = 2;
  m.hidden_size = 8;
  m.num_heads = 2;
  m.num_kv_heads = 2;
  m.head_dim = 4;
  m.ffn_size = 16;
  m.vocab_size = 32;
  m.dtype_bytes = 2;
  m.family = "llama";
  StepShape shape;
  shape.prefills = {{0, 3, true}};     // 6 causal pairs, 3 positions touched
  shape.decode_context_lens = {5, 7};  // 12 pairs
  shape.device_copies = {{0, 1, 4}};   // 4 slots
  const StepWork w = WorkCounter(m, 1).count(sums_of(shape));
  // T = 5 tokens, S = 3 sampled rows.
  EXPECT_DOUBLE_EQ(w.gemm_flops, 2.0 * 5 * 2 * 640 + 2.0 * 3 * 8 * 32);
  EXPECT_DOUBLE_EQ(w.gemm_bytes, (2 * 640 + 8 * 32) * 2.0);
  const double per_pair = 4.0 * 2 * 4 * 2;
  EXPECT_DOUBLE_EQ(w.prefill_attention_flops, 6 * per_pair);
  EXPECT_DOUBLE_EQ(w.prefill_attention_bytes, 3 * 64.0);
  EXPECT_DOUBLE_EQ(w.decode_attention_flops, 12 * per_pair);
  EXPECT_DOUBLE_EQ(w.decode_attention_bytes, 12 * 64.0);
  EXPECT_DOUBLE_EQ(w.copy_bytes, 2 * 4 * 64.0);
  // Tensor parallelism splits every count.
  const StepWork half = WorkCounter(m, 2).count(sums_of(shape));
  EXPECT_DOUBLE_EQ(half.flops(), w.flops() / 2);
  EXPECT_DOUBLE_EQ(half.bytes(), w.bytes() / 2);
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
