// The samples shipped in traces/data load with auto-detection and match the figures in
// traces/data/README.md.
#include <gtest/gtest.h>

#include <cstdio>

#include "core/block_hash.h"
#include "core/workload.h"
#include "tests/traces/trace_test_util.h"
#include "traces/trace_stats.h"
#include "traces/workload_loader.h"

namespace kvlab {
namespace {

using testing::source_path;

TEST(ShippedSamples, AzureConversationSampleReplaysWithItsTimestamps) {
  WorkloadConfig c;
  c.trace = source_path("traces/data/azure_conv_sample.csv");
  c.arrival = "trace";
  const Workload w = load_workload(c);
  EXPECT_EQ(w.report.format, "azure-csv");
  EXPECT_EQ(w.report.rows_read, 4000);
  ASSERT_EQ(w.requests.size(), 4000u);
  EXPECT_EQ(w.requests.front().arrival_s, 0.0);
  EXPECT_EQ(w.requests.front().prompt_len, 374);
  EXPECT_EQ(w.requests.front().output_len, 44);
  EXPECT_EQ(w.requests.front().source_line, 2);
  // 18:15:46.6805900 -> 18:29:21.7598180
  EXPECT_NEAR(w.requests.back().arrival_s, 815.079228, 1e-9);
}

TEST(ShippedSamples, ShareGptLengthSampleNeedsAGeneratedArrivalProcess) {
  WorkloadConfig c;
  c.trace = source_path("traces/data/sharegpt_lengths_sample.csv");
  c.arrival = "poisson";
  c.rate = 4.0;
  c.num_requests = 1000;
  const Workload w = load_workload(c);
  EXPECT_EQ(w.report.format, "length-csv");
  EXPECT_EQ(w.report.rows_read, 4000);
  EXPECT_EQ(w.report.beyond_num_requests, 3000);
  EXPECT_EQ(w.requests.size(), 1000u);
  EXPECT_EQ(w.requests.front().prompt_len, 74);
  EXPECT_EQ(w.requests.front().output_len, 918);
}

TEST(ShippedSamples, MooncakeConversationSampleSharesPrefixes) {
  WorkloadConfig c;
  c.trace = source_path("traces/data/mooncake_conv_sample.jsonl");
  c.arrival = "trace";
  const Workload w = load_workload(c);
  EXPECT_EQ(w.report.format, "mooncake-jsonl");
  EXPECT_EQ(w.report.rows_read, 1000);
  ASSERT_EQ(w.requests.size(), 1000u);
  const RequestSpec& first = w.requests.front();
  EXPECT_EQ(first.prompt_len, 6758);
  EXPECT_EQ(first.output_len, 500);
  EXPECT_EQ(first.prefix_hashes.size(), 14u);
  EXPECT_EQ(first.named_len, 6758);
  EXPECT_EQ(first.prefix_hash_tokens, 512);
  EXPECT_DOUBLE_EQ(w.requests.back().arrival_s, 330.0);
  // What an unbounded prefix cache of 16-token blocks would serve (traces/data/README.md).
  const PrefixReuseBound bound = unbounded_prefix_reuse(w.requests, 16);
  const double reused =
      static_cast<double>(bound.hit_blocks) / static_cast<double>(bound.prompt_blocks);
  std::printf(
      "mooncake_conv_sample: %lld of %lld prompt blocks (bs 16) repeat an earlier prefix: %.4f\n",
      static_cast<long long>(bound.hit_blocks), static_cast<long long>(bound.prompt_blocks),
      reused);
  EXPECT_EQ(bound.prompt_blocks, 857783);
  EXPECT_EQ(bound.hit_blocks, 185168);
  EXPECT_GT(reused, 0.0);
}

TEST(ShippedSamples, StatsMatchTheReadme) {
  const TraceStats azure = compute_trace_stats(source_path("traces/data/azure_conv_sample.csv"));
  EXPECT_EQ(azure.count, 4000);
  EXPECT_NEAR(azure.prompt.mean, 1182.8, 0.05);
  EXPECT_NEAR(azure.output.mean, 253.7, 0.05);
  EXPECT_NEAR(azure.mean_rate_per_s, 3999 / 815.079228, 1e-9);
  const TraceStats sharegpt =
      compute_trace_stats(source_path("traces/data/sharegpt_lengths_sample.csv"));
  EXPECT_EQ(sharegpt.count, 4000);
  EXPECT_NEAR(sharegpt.prompt.mean, 2329.5, 0.05);
  EXPECT_NEAR(sharegpt.output.mean, 429.7, 0.05);
  EXPECT_FALSE(sharegpt.has_timestamps);
}

}  // namespace
}  // namespace kvlab
