// load_workload over trace files: filters and their counts, num_requests, trace arrivals and
// time_scale, ordering and ids, per-request fields, and validation errors naming the key.
#include "traces/workload_loader.h"

#include <gtest/gtest.h>

#include "core/workload.h"
#include "tests/traces/trace_test_util.h"
#include "traces/sharegpt_json_reader.h"

namespace kvlab {
namespace {

using testing::input_error_message;
using testing::TempTraceDir;

// Timed trace, rows out of time order, lengths chosen to exercise the filters.
//   line  t    prompt  output  total
//   2     5    100     10      110
//   3     1    900     10      910   (prompt > 500)
//   4     3    200     400     600   (total > 500)
//   5     1    50      50      100
//   6     0.5  300     300     600   (prompt ok, total > 500)
//   7     9    10      1       11
//   8     1    20      2       22
constexpr const char* kTimed =
    "arrived_at,num_prefill_tokens,num_decode_tokens\n"
    "5,100,10\n"
    "1,900,10\n"
    "3,200,400\n"
    "1,50,50\n"
    "0.5,300,300\n"
    "9,10,1\n"
    "1,20,2\n";

WorkloadConfig timed_config(const std::string& path) {
  WorkloadConfig c;
  c.trace = path;
  c.arrival = "trace";
  return c;
}

void expect_accounting_adds_up(const Workload& w) {
  const auto& r = w.report;
  EXPECT_EQ(r.rows_read,
            r.bad_rows_skipped + r.num_filtered() + static_cast<int64_t>(w.requests.size()));
}

TEST(LoadWorkload, TraceArrivalsSortedStablyWithIdsInArrivalOrder) {
  TempTraceDir dir;
  const auto path = dir.write("t.csv", kTimed);
  WorkloadConfig c = timed_config(path);
  c.n = 3;
  const Workload w = load_workload(c);
  EXPECT_EQ(w.report.source, path);
  EXPECT_EQ(w.report.format, "timed-csv");
  EXPECT_EQ(w.report.rows_read, 7);
  ASSERT_EQ(w.requests.size(), 7u);
  // Arrival order; the three rows at t=1 keep file order (lines 3, 5, 8).
  const std::vector<int64_t> lines = {6, 3, 5, 8, 4, 2, 7};
  const std::vector<double> arrivals = {0, 0.5, 0.5, 0.5, 2.5, 4.5, 8.5};
  for (size_t i = 0; i < w.requests.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(w.requests[i].id, static_cast<RequestId>(i));
    EXPECT_EQ(w.requests[i].source_line, lines[i]);
    EXPECT_DOUBLE_EQ(w.requests[i].arrival_s, arrivals[i]);
    EXPECT_EQ(w.requests[i].n, 3);
  }
  EXPECT_EQ(w.requests[0].prompt_len, 300);
  EXPECT_EQ(w.requests[0].output_len, 300);
  expect_accounting_adds_up(w);
}

TEST(LoadWorkload, TimeScaleStretchesTraceArrivals) {
  TempTraceDir dir;
  const auto path = dir.write("t.csv", kTimed);
  WorkloadConfig c = timed_config(path);
  c.time_scale = 0.5;
  const Workload w = load_workload(c);
  EXPECT_DOUBLE_EQ(w.requests.back().arrival_s, 4.25);
  EXPECT_DOUBLE_EQ(w.requests[4].arrival_s, 1.25);
}

TEST(LoadWorkload, FiltersThenNumRequestsWithEveryDropCounted) {
  TempTraceDir dir;
  const auto path = dir.write("t.csv", kTimed);
  WorkloadConfig c = timed_config(path);
  c.max_prompt_len = 500;
  c.max_total_len = 500;
  c.num_requests = 2;
  const Workload w = load_workload(c);
  EXPECT_EQ(w.report.rows_read, 7);
  EXPECT_EQ(w.report.filtered_prompt_len, 1);  // line 3
  EXPECT_EQ(w.report.filtered_total_len, 2);   // lines 4 and 6
  EXPECT_EQ(w.report.beyond_num_requests, 2);  // lines 7, 8 after lines 2, 5
  ASSERT_EQ(w.requests.size(), 2u);
  // Arrivals are relative to the earliest kept row (line 5, t = 1).
  EXPECT_EQ(w.requests[0].source_line, 5);
  EXPECT_DOUBLE_EQ(w.requests[0].arrival_s, 0.0);
  EXPECT_EQ(w.requests[1].source_line, 2);
  EXPECT_DOUBLE_EQ(w.requests[1].arrival_s, 4.0);
  expect_accounting_adds_up(w);
}

TEST(LoadWorkload, FilterBoundariesAreInclusive) {
  TempTraceDir dir;
  const auto path = dir.write("t.csv", kTimed);
  WorkloadConfig c = timed_config(path);
  c.max_prompt_len = 300;  // 300 kept, 900 dropped
  c.max_total_len = 600;   // 600 kept, 910 would be but the prompt filter came first
  const Workload w = load_workload(c);
  EXPECT_EQ(w.report.filtered_prompt_len, 1);
  EXPECT_EQ(w.report.filtered_total_len, 0);
  EXPECT_EQ(w.requests.size(), 6u);
  expect_accounting_adds_up(w);
}

TEST(LoadWorkload, SkippedBadRowsAreReported) {
  TempTraceDir dir;
  const auto path = dir.write("t.csv", std::string(kTimed) + "x,1,1\n2,0,1\n" + "4,1,1\n");
  WorkloadConfig c = timed_config(path);
  EXPECT_NE(input_error_message([&] { load_workload(c); }).find(path + ":9: field 'arrived_at'"),
            std::string::npos);
  c.skip_bad_rows = true;
  const Workload w = load_workload(c);
  EXPECT_EQ(w.report.rows_read, 10);
  EXPECT_EQ(w.report.bad_rows_skipped, 2);
  ASSERT_EQ(w.report.bad_row_messages.size(), 2u);
  EXPECT_EQ(w.report.bad_row_messages[1].rfind(path + ":10: field 'num_prefill_tokens'", 0), 0u);
  EXPECT_EQ(w.requests.size(), 8u);
  expect_accounting_adds_up(w);
}

TEST(LoadWorkload, MooncakeHashIdsBecomePrefixHashes) {
  TempTraceDir dir;
  const auto path = dir.write(
      "m.jsonl",
      "{\"timestamp\": 2000, \"input_length\": 600, \"output_length\": 5, \"hash_ids\": [0, 7]}\n"
      "{\"timestamp\": 1000, \"input_length\": 100, \"output_length\": 5, \"hash_ids\": [0]}\n");
  WorkloadConfig c;
  c.trace = path;
  const Workload w = load_workload(c);
  ASSERT_EQ(w.requests.size(), 2u);
  EXPECT_EQ(w.report.format, "mooncake-jsonl");
  EXPECT_EQ(w.requests[0].prefix_hashes, (std::vector<uint64_t>{0}));
  EXPECT_EQ(w.requests[1].prefix_hashes, (std::vector<uint64_t>{0, 7}));
  EXPECT_DOUBLE_EQ(w.requests[1].arrival_s, 1.0);
}

TEST(LoadWorkload, TraceArrivalNeedsTimestamps) {
  TempTraceDir dir;
  const auto path = dir.write("l.csv", "num_prefill_tokens,num_decode_tokens\n1,2\n");
  WorkloadConfig c;
  c.trace = path;
  c.arrival = "trace";
  const std::string message = input_error_message([&] { load_workload(c); });
  EXPECT_EQ(message.rfind(path + ": field 'workload.arrival': ", 0), 0u) << message;
  EXPECT_NE(message.find("length-csv"), std::string::npos);
  c.arrival = "burst";
  const Workload w = load_workload(c);
  ASSERT_EQ(w.requests.size(), 1u);
  EXPECT_EQ(w.requests[0].arrival_s, 0.0);
  EXPECT_EQ(w.requests[0].source_line, 2);
}

TEST(LoadWorkload, GeneratedArrivalsFollowFileOrder) {
  TempTraceDir dir;
  const auto path = dir.write("t.csv", kTimed);
  WorkloadConfig c = timed_config(path);
  c.arrival = "poisson";
  c.rate = 2.0;
  c.seed = 7;
  const Workload w = load_workload(c);
  ASSERT_EQ(w.requests.size(), 7u);
  for (size_t i = 0; i < w.requests.size(); ++i) {
    EXPECT_EQ(w.requests[i].source_line, static_cast<int64_t>(i) + 2);
    if (i > 0) {
      EXPECT_GT(w.requests[i].arrival_s, w.requests[i - 1].arrival_s);
    }
  }
  EXPECT_EQ(w.requests[0].arrival_s, 0.0);
}

TEST(LoadWorkload, ShareGptFormatDropsComeBackInTheDetails) {
  TempTraceDir dir;
  const auto path = dir.write(
      "s.json",
      "[{\"conversations\": [{\"value\": \"one two three four\"}, {\"value\": \"a b c d e\"}]},"
      " {\"conversations\": [{\"value\": \"lonely\"}]},"
      " {\"conversations\": [{\"value\": \"hi\"}, {\"value\": \"a b c d e\"}]}]");
  WorkloadConfig c;
  c.trace = path;
  c.format = "sharegpt-json-vllm";
  c.arrival = "burst";
  const WorkloadDetails d = load_workload_with_details(c);
  EXPECT_EQ(d.workload.requests.size(), 1u);
  EXPECT_EQ(d.workload.report.rows_read, 1);
  ASSERT_EQ(d.dropped_by_format.size(), 3u);
  EXPECT_EQ(d.dropped_by_format[0].reason, kDropFewerThanTwoTurns);
  EXPECT_EQ(d.dropped_by_format[0].count, 1);
  EXPECT_EQ(d.dropped_by_format[1].count, 1);  // "hi": prompt < 4
  EXPECT_EQ(d.dropped_by_format[2].count, 0);
}

TEST(LoadWorkload, NothingLeftIsAnErrorWithTheCounts) {
  TempTraceDir dir;
  const auto path = dir.write("t.csv", kTimed);
  WorkloadConfig c = timed_config(path);
  c.max_prompt_len = 5;
  const std::string message = input_error_message([&] { load_workload(c); });
  EXPECT_EQ(message, path +
                         ": no requests left: 7 rows read, 0 bad rows skipped, 7 over "
                         "workload.max_prompt_len, 0 over workload.max_total_len");
}

struct InvalidCase {
  const char* key;
  std::function<void(WorkloadConfig&)> set;
};

TEST(LoadWorkload, InvalidSettingsNameTheirKey) {
  TempTraceDir dir;
  const auto path = dir.write("t.csv", kTimed);
  const std::vector<InvalidCase> cases = {
      {"workload.arrival", [](WorkloadConfig& c) { c.arrival = "weibull"; }},
      {"workload.rate",
       [](WorkloadConfig& c) {
         c.arrival = "poisson";
         c.rate = 0;
       }},
      {"workload.rate",
       [](WorkloadConfig& c) {
         c.arrival = "gamma";
         c.rate = -1;
       }},
      {"workload.burstiness",
       [](WorkloadConfig& c) {
         c.arrival = "gamma";
         c.burstiness = 0;
       }},
      {"workload.time_scale", [](WorkloadConfig& c) { c.time_scale = 0; }},
      {"workload.num_requests", [](WorkloadConfig& c) { c.num_requests = -1; }},
      {"workload.max_prompt_len", [](WorkloadConfig& c) { c.max_prompt_len = -5; }},
      {"workload.max_total_len", [](WorkloadConfig& c) { c.max_total_len = -5; }},
      {"workload.n", [](WorkloadConfig& c) { c.n = 0; }},
      {"workload.n", [](WorkloadConfig& c) { c.n = kMaxSamples + 1; }},
      {"workload.format", [](WorkloadConfig& c) { c.format = "xml"; }},
      {"workload.shared_prefix_len", [](WorkloadConfig& c) { c.shared_prefix_len = -1; }},
      {"workload.shared_prefix_groups", [](WorkloadConfig& c) { c.shared_prefix_groups = 0; }},
  };
  for (const auto& invalid : cases) {
    SCOPED_TRACE(invalid.key);
    WorkloadConfig c = timed_config(path);
    invalid.set(c);
    const std::string message = input_error_message([&] { load_workload(c); });
    EXPECT_EQ(message.rfind(std::string("field '") + invalid.key + "': ", 0), 0u) << message;
  }
}

TEST(LoadWorkload, RateIsOnlyCheckedWhenUsed) {
  TempTraceDir dir;
  const auto path = dir.write("t.csv", kTimed);
  WorkloadConfig c = timed_config(path);
  c.rate = -1;
  c.burstiness = -1;
  EXPECT_EQ(load_workload(c).requests.size(), 7u);
}

}  // namespace
}  // namespace kvlab
