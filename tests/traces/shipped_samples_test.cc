// The samples shipped in traces/data load with auto-detection and match the figures in
// traces/data/README.md.
#include <gtest/gtest.h>

#include "core/workload.h"
#include "traces/workload_loader.h"
#include "tests/traces/trace_test_util.h"
#include "traces/trace_stats.h"

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
