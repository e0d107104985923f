// `kvlab calibrate`: the CPU back end's tiny model is run, its step times fitted, and the fit
// predicts them better than the experiment's defaults; a simulator experiment is refused,
// naming backend.kind.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "app/experiment_runner.h"
#include "core/config.h"
#include "core/engine.h"
#include "sim/calibration.h"
#include "tests/e2e/e2e_util.h"

namespace kvlab {
namespace {

using e2e::run_command;
using e2e::temp_path;

// The two percentages on the output line starting with `label`.
std::pair<double, double> row(const std::string& output, const std::string& label) {
  const size_t at = output.find("\n" + label);
  if (at == std::string::npos) return {-1, -1};
  double before = -1, after = -1;
  std::sscanf(output.c_str() + at + 1 + label.size(), " %lf%% %lf%%", &before, &after);
  return {before, after};
}

TEST(CalibrateCli, CpuTinyFitsBetterThanTheDefaults) {
  const std::string json = temp_path("calibrate_cpu_tiny.json");
  std::remove(json.c_str());
  const auto r = run_command(e2e::kvlab_binary() + " calibrate " +
                             e2e::source_path("experiments/cpu_tiny.ini") + " --out " + json);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* text :
       {"compute_efficiency", "bandwidth_efficiency", "step_overhead_ms", "total predicted/meas.",
        "[backend]", "kind = sim", "hardware.name = a10g"}) {
    EXPECT_NE(r.output.find(text), std::string::npos) << text << "\n" << r.output;
  }
  const auto [before, after] = row(r.output, "median rel. error");
  ASSERT_GE(before, 0) << r.output;
  ASSERT_GE(after, 0) << r.output;
  EXPECT_LT(after, before) << r.output;
  const auto p90 = row(r.output, "p90 rel. error");
  EXPECT_GE(p90.second, after) << r.output;
  std::stringstream text;
  text << std::ifstream(json).rdbuf();
  const auto doc = nlohmann::ordered_json::parse(text.str());
  ASSERT_EQ(doc["points"].size(), 1u) << text.str();
  const auto& point = doc["points"][0];
  std::vector<std::string> keys;
  for (const auto& [key, value] : point.items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"label", "backend", "hardware", "model", "steps_run",
                                            "steps_used", "initial", "fitted", "rel_error_before",
                                            "rel_error_after"}));
  EXPECT_TRUE(point["fitted"]["compute_efficiency"].is_number_float()) << text.str();
  EXPECT_GT(point["steps_used"].get<int64_t>(), 0) << text.str();
}

TEST(CalibrateCli, SimulatorExperimentIsRefusedNamingBackendKind) {
  const auto r = run_command(e2e::kvlab_binary() + " calibrate " +
                             e2e::source_path("experiments/quickstart.ini") +
                             " --set workload.num_requests=20");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("backend.kind"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("real back end"), std::string::npos) << r.output;
}

// The one point of `config`: the steps calibration records on it, and an ordinary run of the
// same requests.
struct Recorded {
  PreparedPoint point;
  std::vector<StepSample> samples;
  RunResult run;
};

Recorded record_and_run(const Config& config) {
  std::vector<PreparedPoint> points = prepare_experiment(config, Shard{});
  EXPECT_EQ(points.size(), 1u);
  Recorded r{std::move(points.at(0)), {}, {}};
  const std::vector<RequestSpec> requests =
      requests_for_backend(r.point.config, r.point.workload->requests);
  r.samples = collect_step_samples(r.point.config, requests);
  r.run = make_engine(r.point.config)->run(requests);
  return r;
}

// The recorded shapes are the steps the engine ran: the same counts per step as the per-step
// table of an ordinary run (cpu_tiny's requests all arrive at t = 0, so the schedule does not
// depend on step times), read before the step advanced the sequences.
TEST(CalibrateCli, SamplesAreTheStepsOfAnOrdinaryRun) {
  const Recorded r = record_and_run(Config::load(e2e::source_path("experiments/cpu_tiny.ini")));
  const std::vector<StepSample>& samples = r.samples;
  const RunResult& run = r.run;
  const PreparedPoint& p = r.point;
  ASSERT_EQ(samples.size(), run.steps.size());
  int64_t sampled_rows = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    const StepShape& s = samples[i].shape;
    EXPECT_GT(samples[i].measured_s, 0) << i;
    EXPECT_EQ(s.num_prefill_tokens(), run.steps[i].prefill_tokens) << i;
    EXPECT_EQ(s.num_decode_tokens(), run.steps[i].decode_tokens) << i;
    int64_t swapped = 0;
    for (const KvCopy& c : s.swap_out) swapped += c.num_slots;
    EXPECT_EQ(swapped * p.config.model.kv_bytes_per_slot(), run.steps[i].swap_out_bytes) << i;
    for (int64_t context : s.decode_context_lens) {
      EXPECT_GE(context, 2) << i;  // a decode follows at least one prompt token
      EXPECT_LE(context, p.config.model.max_seq_len) << i;
    }
    sampled_rows += s.num_sampled();
  }
  // One LM-head row per generated token (n = 1): first tokens from prompt chunks, then decodes.
  EXPECT_EQ(sampled_rows, static_cast<int64_t>(run.summary.get("generated_tokens")));
}

// Fork copies run after the plan, in the step that forks (Executor::copy_within): the recorder
// adds them to that step's sample, so each sample's device copies are the bytes the per-step
// table counts for its step (contiguous regions copy the prompt into every other sample's).
TEST(CalibrateCli, ForkCopiesJoinTheSampleOfTheStepThatForks) {
  Config config = Config::load(e2e::source_path("experiments/cpu_tiny.ini"));
  config.set("memory.policy", "contiguous");
  config.set("memory.reservation", "oracle");
  config.set("workload.n", "2");
  config.set("workload.num_requests", "8");
  const Recorded r = record_and_run(config);
  const std::vector<StepSample>& samples = r.samples;
  const RunResult& run = r.run;
  const PreparedPoint& p = r.point;
  ASSERT_EQ(samples.size(), run.steps.size());
  int64_t copied = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    int64_t slots = 0;
    for (const KvCopy& c : samples[i].shape.device_copies) slots += c.num_slots;
    EXPECT_EQ(slots * p.config.model.kv_bytes_per_slot(), run.steps[i].copy_bytes) << i;
    copied += slots;
  }
  EXPECT_GT(copied, 0);
}

TEST(CalibrateCli, HelpIsListed) {
  const auto r = run_command(e2e::kvlab_binary() + " --help");
  EXPECT_NE(r.output.find("calibrate CONFIG.ini"), std::string::npos) << r.output;
  EXPECT_EQ(run_command(e2e::kvlab_binary() + " calibrate --help").exit_code, 0);
  EXPECT_EQ(run_command(e2e::kvlab_binary() + " calibrate").exit_code, 2);
}

}  // namespace
}  // namespace kvlab
