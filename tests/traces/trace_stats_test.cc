// compute_trace_stats and format_trace_stats on small files with known numbers.
#include "traces/trace_stats.h"

#include <gtest/gtest.h>

#include "tests/traces/trace_test_util.h"

namespace kvlab {
namespace {

using testing::TempTraceDir;

TEST(TraceStats, KnownNumbersForATimedTrace) {
  TempTraceDir dir;
  std::string content = "arrived_at,num_prefill_tokens,num_decode_tokens\n";
  // prompts 10..100, outputs 1..10, arrivals every 0.5 s from 2.0 to 6.5
  for (int i = 1; i <= 10; ++i) {
    content += std::to_string(1.5 + 0.5 * i) + "," + std::to_string(10 * i) + "," +
               std::to_string(11 - i) + "\n";
  }
  const auto path = dir.write("t.csv", content);
  const TraceStats s = compute_trace_stats(path);
  EXPECT_EQ(s.format, "timed-csv");
  EXPECT_EQ(s.count, 10);
  EXPECT_DOUBLE_EQ(s.prompt.mean, 55.0);
  EXPECT_EQ(s.prompt.p50, 50);
  EXPECT_EQ(s.prompt.p90, 90);
  EXPECT_EQ(s.prompt.max, 100);
  EXPECT_DOUBLE_EQ(s.output.mean, 5.5);
  EXPECT_EQ(s.output.p50, 5);
  EXPECT_EQ(s.output.p90, 9);
  EXPECT_EQ(s.output.max, 10);
  EXPECT_TRUE(s.has_timestamps);
  EXPECT_DOUBLE_EQ(s.span_s, 4.5);
  EXPECT_DOUBLE_EQ(s.mean_rate_per_s, 2.0);
  EXPECT_EQ(format_trace_stats(s), "trace   " + path +
                                       " (timed-csv)\n"
                                       "rows    10\n"
                                       "tokens          mean       min       p50       p90       p99       max\n"
                                       "prompt          55.0        10        50        90       100       100\n"
                                       "output           5.5         1         5         9        10        10\n"
                                       "span    4.5 s, mean rate 2.000 req/s\n"
                                       "\n"
                                       "prompt tokens      count\n"
                                       "  [      8,      16)         1  ##########\n"
                                       "  [     16,      32)         2  ####################\n"
                                       "  [     32,      64)         3  ##############################\n"
                                       "  [     64,     128)         4  ########################################\n"
                                       "\n"
                                       "output tokens      count\n"
                                       "  [      1,       2)         1  ##########\n"
                                       "  [      2,       4)         2  ####################\n"
                                       "  [      4,       8)         4  ########################################\n"
                                       "  [      8,      16)         3  ##############################\n");
}

TEST(TraceStats, LengthTraceHasNoTimestamps) {
  TempTraceDir dir;
  const auto path = dir.write("l.csv", "num_prefill_tokens,num_decode_tokens\n7,3\n");
  const TraceStats s = compute_trace_stats(path, "length-csv");
  EXPECT_EQ(s.count, 1);
  EXPECT_EQ(s.prompt.p50, 7);
  EXPECT_EQ(s.prompt.p90, 7);
  EXPECT_FALSE(s.has_timestamps);
  EXPECT_EQ(s.span_s, 0.0);
  EXPECT_NE(format_trace_stats(s).find("span    no timestamps"), std::string::npos);
}

TEST(TraceStats, Log2HistogramListsEveryBinBetweenTheExtremes) {
  const std::vector<HistogramBin> bins = log2_histogram({3, 3, 40, 1000});
  ASSERT_EQ(bins.size(), 9u);  // [2,4) ... [512,1024)
  EXPECT_EQ(bins.front().lo, 2);
  EXPECT_EQ(bins.front().hi, 4);
  EXPECT_EQ(bins.front().count, 2);
  EXPECT_EQ(bins[4].lo, 32);
  EXPECT_EQ(bins[4].count, 1);
  EXPECT_EQ(bins[5].count, 0);
  EXPECT_EQ(bins.back().lo, 512);
  EXPECT_EQ(bins.back().hi, 1024);
  EXPECT_EQ(bins.back().count, 1);
  int64_t total = 0;
  for (const HistogramBin& b : bins) total += b.count;
  EXPECT_EQ(total, 4);
  EXPECT_TRUE(log2_histogram({}).empty());
  EXPECT_EQ(log2_histogram({1}).size(), 1u);
}

TEST(TraceStats, NearestRankPercentile) {
  const std::vector<int64_t> v = {1, 2, 3, 4};
  EXPECT_EQ(nearest_rank_percentile(v, 50), 2);
  EXPECT_EQ(nearest_rank_percentile(v, 51), 3);
  EXPECT_EQ(nearest_rank_percentile(v, 90), 4);
  EXPECT_EQ(nearest_rank_percentile(v, 100), 4);
  EXPECT_EQ(nearest_rank_percentile(v, 1), 1);
}

TEST(TraceStats, MalformedRowIsAnError) {
  TempTraceDir dir;
  const auto path = dir.write("l.csv", "num_prefill_tokens,num_decode_tokens\n7,3\n8,-1\n");
  EXPECT_EQ(testing::input_error_message([&] {
              compute_trace_stats(path);
            }).rfind(path + ":3: field 'num_decode_tokens': negative length", 0),
            0u);
}

}  // namespace
}  // namespace kvlab
