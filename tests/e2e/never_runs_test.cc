// Requests that can never run: `--check`'s prediction (predict_rejections, asked of an empty
// manager) names exactly the requests a run rejects, for every scheduler and memory policy;
// the CLI warns per point with the count and first reasons, and --strict fails and writes
// nothing.
#include "app/never_runs.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "app/experiment_runner.h"
#include "core/config.h"
#include "tests/e2e/e2e_util.h"

namespace kvlab {
namespace {

using e2e::file_exists;
using e2e::run_command;
using e2e::temp_path;

// The azure conversation sample's lengths against a small arena and a short max_seq_len: some
// requests are over the scheduler's limits, some over any arena the managers can offer.
Config tight_setup(const std::string& sweep) {
  return Config::parse(
      "[workload]\ntrace = " + e2e::source_path("traces/data/azure_conv_sample.csv") +
          "\nnum_requests = 300\nmax_prompt_len = 100000\nmax_total_len = 100000\n"
          "[model]\nname = llama-2-7b\nmax_seq_len = 4096\n[hardware]\nname = a100-40gb\n"
          "[memory]\ncapacity_slots = 1800\n"
          "[scheduler]\nmax_batched_tokens = 2048\n"
          "[sweep]\n" +
          sweep,
      "tight.ini");
}

std::vector<int64_t> ids(const std::vector<NeverRuns>& rows) {
  std::vector<int64_t> out;
  for (const NeverRuns& r : rows) out.push_back(r.id);
  return out;
}

TEST(NeverRuns, ThePredictionNamesExactlyTheRequestsARunRejects) {
  const Config config = tight_setup(
      "memory.policy + memory.reservation = paged:max, contiguous:max, contiguous:oracle, "
      "contiguous:pow2\nscheduler.batching + scheduler.chunk_size = continuous:0, continuous:256, "
      "static:0\n");
  const std::vector<PreparedPoint> points = prepare_experiment(config, Shard{});
  RunOptions options;
  options.jobs = 2;
  const std::vector<RunResult> results = run_experiment(config, options);
  ASSERT_EQ(points.size(), results.size());
  size_t with_rejections = 0;
  for (size_t i = 0; i < points.size(); ++i) {
    const PointRejections predicted = predicted_rejections(points[i]);
    const PointRejections recorded = recorded_rejections(results[i]);
    EXPECT_EQ(ids(predicted.rejected), ids(recorded.rejected)) << points[i].point.label;
    for (size_t k = 0; k < predicted.rejected.size() && k < recorded.rejected.size(); ++k) {
      EXPECT_EQ(predicted.rejected[k].reason, recorded.rejected[k].reason);
      EXPECT_EQ(predicted.rejected[k].source_line, recorded.rejected[k].source_line);
    }
    EXPECT_EQ(static_cast<double>(recorded.rejected.size()),
              results[i].summary.get("num_rejected"));
    if (!recorded.rejected.empty()) ++with_rejections;
  }
  EXPECT_EQ(with_rejections, points.size()) << "every point should reject some requests";
}

TEST(NeverRuns, TheWarningCountsAndQuotesTheFirstReasons) {
  PointRejections p;
  p.point_index = 3;
  p.label = "memory.policy=paged";
  p.num_requests = 10;
  p.source = "t.csv";
  p.rejected = {{4, 6, "too long"}, {5, 7, "too wide"}, {8, 0, "too deep"}, {9, 11, "too much"}};
  EXPECT_EQ(rejection_warning(p, "were"),
            "warning: point 3 (memory.policy=paged): 4 of 10 requests can never run and were "
            "rejected; first: request 4 (t.csv:6): too long; request 5 (t.csv:7): too wide; "
            "request 8: too deep; ...");
  p.rejected.clear();
  EXPECT_EQ(rejection_warning(p, "were"), "");
}

std::string tight_cli(const std::string& out, const std::string& flags) {
  return e2e::kvlab_binary() + " run " + e2e::source_path("experiments/quickstart.ini") +
         " --set workload.num_requests=100 --set memory.capacity_slots=600 --out " + out + " " +
         flags;
}

TEST(NeverRuns, TheCliWarnsPerPointAndStrictFailsWritingNothing) {
  const std::string out = temp_path("never_runs.h5");
  std::remove(out.c_str());
  const auto warned = run_command(tight_cli(out, "-q"));
  ASSERT_EQ(warned.exit_code, 0) << warned.output;
  EXPECT_NE(warned.output.find("kvlab: warning: point 0 (vLLM (paged, 16)): 34 of 100 requests "
                               "can never run and were rejected; first: request 2 ("),
            std::string::npos)
      << warned.output;
  EXPECT_NE(warned.output.find("azure_conv_sample.csv:4): memory manager paged(block_size=16) can "
                               "never hold it (prompt 879 + output 55 tokens"),
            std::string::npos)
      << warned.output;
  EXPECT_NE(warned.output.find("kvlab: warning: point 1 (Orca (Max)): 100 of 100"),
            std::string::npos)
      << warned.output;
  EXPECT_TRUE(file_exists(out));

  std::remove(out.c_str());
  const auto strict = run_command(tight_cli(out, "-q --strict"));
  EXPECT_EQ(strict.exit_code, 1) << strict.output;
  EXPECT_NE(strict.output.find("will be rejected"), std::string::npos) << strict.output;
  EXPECT_NE(
      strict.output.find("kvlab: error: --strict: 134 request(s) of 2 point(s) can never run"),
      std::string::npos)
      << strict.output;
  EXPECT_FALSE(file_exists(out));

  const auto check = run_command(tight_cli(out, "--check"));
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_NE(check.output.find("never_run"), std::string::npos) << check.output;
  EXPECT_NE(check.output.find("134 request(s) can never run"), std::string::npos) << check.output;
  EXPECT_NE(check.output.find("34 of 100 requests can never run and will be rejected"),
            std::string::npos)
      << check.output;
  EXPECT_EQ(run_command(tight_cli(out, "--check --strict")).exit_code, 1);
  EXPECT_FALSE(file_exists(out));

  // A run where everything fits is silent about it, and --strict passes.
  const auto fits =
      run_command(e2e::kvlab_binary() + " run " + e2e::source_path("experiments/quickstart.ini") +
                  " -q --strict --set workload.num_requests=50 --out " + out);
  EXPECT_EQ(fits.exit_code, 0) << fits.output;
  EXPECT_EQ(fits.output, "");
}

}  // namespace
}  // namespace kvlab
