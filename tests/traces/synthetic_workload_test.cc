// Synthetic workloads (workload.trace empty): length distributions, seeds, and errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "core/workload.h"
#include "traces/workload_loader.h"
#include "tests/traces/trace_test_util.h"
#include "traces/length_distribution.h"

namespace kvlab {
namespace {

using testing::input_error_message;

WorkloadConfig synthetic(int64_t n, const std::string& prompt, const std::string& output) {
  WorkloadConfig c;
  c.num_requests = n;
  c.prompt_len = prompt;
  c.output_len = output;
  c.arrival = "poisson";
  c.rate = 10.0;
  return c;
}

TEST(SyntheticWorkload, ConstantLengths) {
  const Workload w = load_workload(synthetic(5, "512", "128"));
  EXPECT_EQ(w.report.source, "synthetic");
  EXPECT_EQ(w.report.rows_read, 5);
  ASSERT_EQ(w.requests.size(), 5u);
  for (size_t i = 0; i < w.requests.size(); ++i) {
    EXPECT_EQ(w.requests[i].id, static_cast<RequestId>(i));
    EXPECT_EQ(w.requests[i].prompt_len, 512);
    EXPECT_EQ(w.requests[i].output_len, 128);
    EXPECT_EQ(w.requests[i].source_line, 0);
  }
}

TEST(SyntheticWorkload, UniformIsInclusive) {
  const Workload w = load_workload(synthetic(2000, "uniform:10:14", "uniform:1:1"));
  std::set<int32_t> prompts;
  for (const auto& r : w.requests) {
    prompts.insert(r.prompt_len);
    EXPECT_EQ(r.output_len, 1);
  }
  EXPECT_EQ(prompts, (std::set<int32_t>{10, 11, 12, 13, 14}));
}

TEST(SyntheticWorkload, LognormalMedianAndClamp) {
  const Workload w = load_workload(synthetic(4001, "lognormal:5:0.5", "lognormal:-10:0.1"));
  std::vector<int32_t> prompts;
  for (const auto& r : w.requests) {
    prompts.push_back(r.prompt_len);
    EXPECT_EQ(r.output_len, 1);  // exp(-10) rounds to 0, clamped to 1
  }
  std::nth_element(prompts.begin(), prompts.begin() + 2000, prompts.end());
  EXPECT_NEAR(prompts[2000], std::exp(5.0), std::exp(5.0) * 0.05);
}

TEST(SyntheticWorkload, LengthsDependOnSeedButNotOnArrivalProcess) {
  auto lengths = [](const WorkloadConfig& c) {
    std::vector<std::pair<int32_t, int32_t>> out;
    const Workload w = load_workload(c);
    for (const auto& r : w.requests) out.emplace_back(r.prompt_len, r.output_len);
    return out;
  };
  WorkloadConfig c = synthetic(200, "uniform:1:1000", "lognormal:4:1");
  c.seed = 3;
  const auto base = lengths(c);
  EXPECT_EQ(lengths(c), base);
  WorkloadConfig burst = c;
  burst.arrival = "burst";
  EXPECT_EQ(lengths(burst), base);  // burst keeps file order, poisson too
  WorkloadConfig other = c;
  other.seed = 4;
  EXPECT_NE(lengths(other), base);
}

TEST(SyntheticWorkload, FiltersApplyAndAreCounted) {
  WorkloadConfig c = synthetic(1000, "uniform:1:100", "10");
  c.max_prompt_len = 50;
  const Workload w = load_workload(c);
  EXPECT_EQ(w.report.rows_read, 1000);
  EXPECT_EQ(w.report.filtered_prompt_len + static_cast<int64_t>(w.requests.size()), 1000);
  EXPECT_GT(w.report.filtered_prompt_len, 400);
  EXPECT_LT(w.report.filtered_prompt_len, 600);
}

TEST(SyntheticWorkload, ErrorsNameTheKey) {
  struct Case {
    WorkloadConfig config;
    std::string prefix;
  };
  WorkloadConfig trace_arrival = synthetic(5, "1", "1");
  trace_arrival.arrival = "trace";
  const std::vector<Case> cases = {
      {synthetic(0, "1", "1"), "field 'workload.num_requests': "},
      {trace_arrival, "field 'workload.arrival': "},
      {synthetic(5, "0", "1"), "field 'workload.prompt_len': '0': length 0 is outside"},
      {synthetic(5, "abc", "1"), "field 'workload.prompt_len': 'abc': "},
      {synthetic(5, "", "1"), "field 'workload.prompt_len': '': empty"},
      {synthetic(5, "1", "uniform:5:1"),
       "field 'workload.output_len': 'uniform:5:1': uniform "
       "lower bound exceeds upper bound"},
      {synthetic(5, "1", "uniform:5"), "field 'workload.output_len': "},
      {synthetic(5, "1", "uniform:a:9"), "field 'workload.output_len': "},
      {synthetic(5, "1", "lognormal:1"), "field 'workload.output_len': "},
      {synthetic(5, "1", "lognormal:1:-2"), "field 'workload.output_len': 'lognormal:1:-2': SIGMA"},
      {synthetic(5, "1", "lognormal:x:1"), "field 'workload.output_len': "},
      {synthetic(5, "zipf:1:2", "1"), "field 'workload.prompt_len': 'zipf:1:2': unknown"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.prefix);
    const std::string message = input_error_message([&] { load_workload(c.config); });
    EXPECT_EQ(message.rfind(c.prefix, 0), 0u) << message;
  }
}

TEST(LengthDistribution, Means) {
  EXPECT_DOUBLE_EQ(LengthDistribution::parse("7", "k").mean(), 7.0);
  EXPECT_DOUBLE_EQ(LengthDistribution::parse("uniform:2:4", "k").mean(), 3.0);
  EXPECT_DOUBLE_EQ(LengthDistribution::parse("lognormal:1:0", "k").mean(), std::exp(1.0));
}

}  // namespace
}  // namespace kvlab
