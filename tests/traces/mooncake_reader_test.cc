// Golden test for mooncake-jsonl: milliseconds to seconds, hash_ids kept, extra keys ignored.
#include <gtest/gtest.h>

#include "tests/traces/trace_test_util.h"

namespace kvlab {
namespace {

using testing::read_with;
using testing::TempTraceDir;

TEST(MooncakeJsonl, ReadsRowsWithHashIds) {
  TempTraceDir dir;
  const auto path = dir.write(
      "mooncake.jsonl",
      "{\"timestamp\": 0, \"input_length\": 6758, \"output_length\": 500, \"hash_ids\": [0, 1, "
      "2]}\n"
      "{\"timestamp\": 0, \"input_length\": 7322, \"output_length\": 490, \"hash_ids\": [0, 14]}\n"
      "\n"
      "{\"timestamp\": 1250, \"input_length\": 3, \"output_length\": 1, \"hash_ids\": [], "
      "\"note\": \"x\"}\n"
      "{\"output_length\": 2.0, \"input_length\": 4, \"timestamp\": 2500.5, "
      "\"hash_ids\": [18446744073709551615]}\n"
      "{\"timestamp\": 3000, \"input_length\": 9, \"output_length\": 8}");
  const TraceData data = read_with("mooncake-jsonl", path);
  EXPECT_TRUE(data.has_timestamps);
  ASSERT_EQ(data.rows.size(), 5u);
  const std::vector<double> times = {0.0, 0.0, 1.25, 2.5005, 3.0};
  const std::vector<int64_t> prompts = {6758, 7322, 3, 4, 9};
  const std::vector<int64_t> outputs = {500, 490, 1, 2, 8};
  const std::vector<int64_t> lines = {1, 2, 4, 5, 6};
  const std::vector<std::vector<uint64_t>> hashes = {
      {0, 1, 2}, {0, 14}, {}, {18446744073709551615ULL}, {}};
  for (size_t i = 0; i < data.rows.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_DOUBLE_EQ(data.rows[i].timestamp_s, times[i]);
    EXPECT_EQ(data.rows[i].prompt_len, prompts[i]);
    EXPECT_EQ(data.rows[i].output_len, outputs[i]);
    EXPECT_EQ(data.rows[i].line, lines[i]);
    EXPECT_EQ(data.rows[i].hash_ids, hashes[i]);
  }
  EXPECT_EQ(data.bad_rows_skipped, 0);
}

}  // namespace
}  // namespace kvlab
