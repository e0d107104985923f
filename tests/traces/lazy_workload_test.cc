// open_workload(): the requests one at a time are load_workload's, field for field (arrivals
// bit for bit), in the same order, with the same report once drained; for synthetic workloads
// (generated lazily) across arrival processes, length distributions, filters, system prompts
// and n, and for traces (read whole); and every InputError comes from open_workload itself.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/workload.h"
#include "tests/traces/trace_test_util.h"
#include "traces/workload_loader.h"

namespace kvlab {
namespace {

using testing::input_error_message;
using testing::source_path;

uint64_t bits(double value) {
  uint64_t out = 0;
  std::memcpy(&out, &value, sizeof out);
  return out;
}

void expect_same_request(const RequestSpec& lazy, const RequestSpec& loaded) {
  SCOPED_TRACE("request " + std::to_string(loaded.id));
  EXPECT_EQ(lazy.id, loaded.id);
  EXPECT_EQ(bits(lazy.arrival_s), bits(loaded.arrival_s));
  EXPECT_EQ(lazy.prompt_len, loaded.prompt_len);
  EXPECT_EQ(lazy.output_len, loaded.output_len);
  EXPECT_EQ(lazy.n, loaded.n);
  EXPECT_EQ(lazy.prefix_hashes, loaded.prefix_hashes);
  EXPECT_EQ(lazy.prefix_hash_tokens, loaded.prefix_hash_tokens);
  EXPECT_EQ(lazy.named_len, loaded.named_len);
  EXPECT_EQ(lazy.prompt_tokens, loaded.prompt_tokens);
  EXPECT_EQ(lazy.follows, loaded.follows);
  EXPECT_EQ(bits(lazy.think_time_s), bits(loaded.think_time_s));
  EXPECT_EQ(lazy.transferred_len, loaded.transferred_len);
  EXPECT_EQ(bits(lazy.sampling.temperature), bits(loaded.sampling.temperature));
  EXPECT_EQ(lazy.sampling.top_k, loaded.sampling.top_k);
  EXPECT_EQ(bits(lazy.sampling.top_p), bits(loaded.sampling.top_p));
  EXPECT_EQ(bits(lazy.sampling.repetition_penalty), bits(loaded.sampling.repetition_penalty));
  EXPECT_EQ(lazy.sampling.seed, loaded.sampling.seed);
  EXPECT_EQ(lazy.source_line, loaded.source_line);
}

void expect_same_report(const WorkloadReport& lazy, const WorkloadReport& loaded) {
  EXPECT_EQ(lazy.source, loaded.source);
  EXPECT_EQ(lazy.format, loaded.format);
  EXPECT_EQ(lazy.rows_read, loaded.rows_read);
  EXPECT_EQ(lazy.bad_rows_skipped, loaded.bad_rows_skipped);
  EXPECT_EQ(lazy.filtered_prompt_len, loaded.filtered_prompt_len);
  EXPECT_EQ(lazy.filtered_total_len, loaded.filtered_total_len);
  EXPECT_EQ(lazy.beyond_num_requests, loaded.beyond_num_requests);
  EXPECT_EQ(lazy.filtered_after_turn, loaded.filtered_after_turn);
  EXPECT_EQ(lazy.bad_row_messages, loaded.bad_row_messages);
  EXPECT_EQ(lazy.dropped_by_format, loaded.dropped_by_format);
}

// Drains open_workload(c) and compares it with load_workload(c); returns the request count.
size_t expect_lazy_equals_loaded(const WorkloadConfig& c) {
  const Workload loaded = load_workload(c);
  const std::unique_ptr<RequestSource> source = open_workload(c);
  std::vector<RequestSpec> lazy;
  RequestSpec spec;
  while (source->next(spec)) lazy.push_back(spec);
  EXPECT_FALSE(source->next(spec));  // stays exhausted
  EXPECT_GE(source->max_requests(), static_cast<int64_t>(lazy.size()));
  EXPECT_EQ(lazy.size(), loaded.requests.size());
  for (size_t i = 0; i < std::min(lazy.size(), loaded.requests.size()); ++i) {
    expect_same_request(lazy[i], loaded.requests[i]);
  }
  expect_same_report(source->report(), loaded.report);
  return loaded.requests.size();
}

struct SyntheticCase {
  const char* name;
  const char* arrival;
  double burstiness;
  const char* prompt_len;
  const char* output_len;
  int64_t max_prompt_len;
  int64_t max_total_len;
  int32_t shared_prefix_len;
  int32_t shared_prefix_groups;
  int32_t n;
};

WorkloadConfig synthetic(const SyntheticCase& k) {
  WorkloadConfig c;
  c.num_requests = 3000;
  c.seed = 11;
  c.arrival = k.arrival;
  c.rate = 7.5;
  c.burstiness = k.burstiness;
  c.prompt_len = k.prompt_len;
  c.output_len = k.output_len;
  c.max_prompt_len = k.max_prompt_len;
  c.max_total_len = k.max_total_len;
  c.shared_prefix_len = k.shared_prefix_len;
  c.shared_prefix_groups = k.shared_prefix_groups;
  c.n = k.n;
  return c;
}

TEST(OpenWorkload, SyntheticRequestsAndReportAreLoadWorkloads) {
  const std::vector<SyntheticCase> cases = {
      {"poisson constant", "poisson", 1.0, "512", "128", 0, 0, 0, 1, 1},
      {"poisson uniform, prompt filter", "poisson", 1.0, "uniform:1:1000", "uniform:1:300", 600, 0,
       0, 1, 1},
      {"gamma bursty lognormal, total filter", "gamma", 0.4, "lognormal:6:1", "lognormal:4:0.8", 0,
       1200, 0, 1, 1},
      {"gamma regular, both filters, n 4", "gamma", 3.0, "uniform:50:2000", "lognormal:5:1", 1500,
       1800, 0, 1, 4},
      {"burst, system prompts in 3 groups", "burst", 1.0, "uniform:100:900", "64", 0, 0, 256, 3, 1},
      {"poisson, system prompt longer than some prompts, filters", "poisson", 1.0,
       "lognormal:5:1.2", "uniform:1:50", 2000, 0, 300, 5, 2},
  };
  for (const SyntheticCase& k : cases) {
    SCOPED_TRACE(k.name);
    const WorkloadConfig c = synthetic(k);
    const size_t count = expect_lazy_equals_loaded(c);
    EXPECT_GT(count, 0u);
    if (k.max_prompt_len > 0 || k.max_total_len > 0) {
      EXPECT_LT(count, static_cast<size_t>(c.num_requests));  // the filters dropped rows
    }
  }
}

TEST(OpenWorkload, LeadingFilteredRowsAreSkippedAndCounted) {
  // Seed 3, uniform:1:100 under max_prompt_len 5: about 95% of rows dropped, the first few
  // among them, so the first request is not the first row.
  WorkloadConfig c;
  c.num_requests = 400;
  c.seed = 3;
  c.arrival = "poisson";
  c.rate = 2.0;
  c.prompt_len = "uniform:1:100";
  c.output_len = "uniform:1:10";
  c.max_prompt_len = 5;
  const size_t count = expect_lazy_equals_loaded(c);
  EXPECT_GT(count, 0u);
  EXPECT_LT(count, 60u);
}

TEST(OpenWorkload, TraceRequestsAndReportAreLoadWorkloads) {
  WorkloadConfig mooncake;  // hash_ids names, trace arrivals, filters
  mooncake.trace = source_path("traces/data/mooncake_conv_sample.jsonl");
  mooncake.max_prompt_len = 20000;
  mooncake.num_requests = 700;
  mooncake.n = 2;
  EXPECT_EQ(expect_lazy_equals_loaded(mooncake), 700u);

  WorkloadConfig azure;  // gamma arrivals over a trace, a system prompt
  azure.trace = source_path("traces/data/azure_conv_sample.csv");
  azure.arrival = "gamma";
  azure.rate = 3.0;
  azure.burstiness = 0.5;
  azure.max_total_len = 3000;
  azure.shared_prefix_len = 128;
  azure.shared_prefix_groups = 4;
  EXPECT_GT(expect_lazy_equals_loaded(azure), 0u);
}

// Every error load_workload throws, open_workload throws with the same message, before a
// request is asked for.
TEST(OpenWorkload, ErrorsComeFromOpenWorkloadAsFromLoadWorkload) {
  auto config = [](auto set) {
    WorkloadConfig c;
    c.num_requests = 50;
    c.arrival = "poisson";
    c.prompt_len = "uniform:10:100";
    set(c);
    return c;
  };
  const std::vector<WorkloadConfig> cases = {
      config([](WorkloadConfig& c) { c.num_requests = 0; }),
      config([](WorkloadConfig& c) { c.arrival = "trace"; }),
      config([](WorkloadConfig& c) { c.arrival = "weibull"; }),
      config([](WorkloadConfig& c) { c.rate = 0; }),
      config([](WorkloadConfig& c) { c.n = 0; }),
      config([](WorkloadConfig& c) { c.multi_turn = true; }),
      config([](WorkloadConfig& c) { c.prompt_len = "zipf:1:2"; }),
      config([](WorkloadConfig& c) { c.output_len = "uniform:5:1"; }),
      config([](WorkloadConfig& c) { c.shared_prefix_groups = 0; }),
      // Every row filtered: the counts, as load_workload gives them.
      config([](WorkloadConfig& c) { c.max_prompt_len = 9; }),
      config([](WorkloadConfig& c) {
        c.max_total_len = 50;
        c.output_len = "uniform:41:60";
      }),
      config([](WorkloadConfig& c) {
        c.trace = source_path("traces/data/mooncake_conv_sample.jsonl");
        c.max_prompt_len = 5;
      }),
  };
  for (const WorkloadConfig& c : cases) {
    const std::string loaded = input_error_message([&] { load_workload(c); });
    SCOPED_TRACE(loaded);
    EXPECT_FALSE(loaded.empty());
    EXPECT_EQ(input_error_message([&] { open_workload(c); }), loaded);
  }
}

TEST(OpenWorkload, AllFilteredSyntheticNamesTheCounts) {
  WorkloadConfig c;
  c.num_requests = 20;
  c.arrival = "burst";
  c.prompt_len = "uniform:10:100";
  c.max_prompt_len = 9;
  EXPECT_EQ(input_error_message([&] { open_workload(c); }),
            "synthetic: no requests left: 20 rows read, 0 bad rows skipped, 20 over "
            "workload.max_prompt_len, 0 over workload.max_total_len");
}

TEST(OpenWorkload, SyntheticReportCountsAsRequestsAreGiven) {
  WorkloadConfig c;
  c.num_requests = 1000;
  c.arrival = "poisson";
  c.prompt_len = "uniform:1:100";
  c.max_prompt_len = 50;
  const std::unique_ptr<RequestSource> source = open_workload(c);
  EXPECT_EQ(source->max_requests(), 1000);
  EXPECT_EQ(source->report().source, "synthetic");
  RequestSpec spec;
  int64_t given = 0;
  while (source->next(spec)) {
    EXPECT_EQ(spec.id, given);
    ++given;
  }
  const WorkloadReport& report = source->report();
  EXPECT_EQ(report.rows_read, 1000);
  EXPECT_EQ(report.filtered_prompt_len + given, 1000);
  EXPECT_GT(report.filtered_prompt_len, 0);
}

}  // namespace
}  // namespace kvlab
