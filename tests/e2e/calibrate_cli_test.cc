// `kvlab calibrate`: the CPU back end's tiny model is run, its step times fitted, and the fit
// predicts them better than the experiment's defaults; a simulator experiment is refused,
// naming backend.kind.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

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
  for (const char* text : {"compute_efficiency", "bandwidth_efficiency", "step_overhead_ms",
                           "total predicted/meas.", "[backend]", "kind = sim", "hardware.name = a10g"}) {
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
  EXPECT_NE(text.str().find("\"fitted\": {\"compute_efficiency\": "), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("\"steps_used\": "), std::string::npos) << text.str();
}

TEST(CalibrateCli, SimulatorExperimentIsRefusedNamingBackendKind) {
  const auto r = run_command(e2e::kvlab_binary() + " calibrate " +
                             e2e::source_path("experiments/quickstart.ini") +
                             " --set workload.num_requests=20");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("backend.kind"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("real back end"), std::string::npos) << r.output;
}

TEST(CalibrateCli, HelpIsListed) {
  const auto r = run_command(e2e::kvlab_binary() + " --help");
  EXPECT_NE(r.output.find("calibrate CONFIG.ini"), std::string::npos) << r.output;
  EXPECT_EQ(run_command(e2e::kvlab_binary() + " calibrate --help").exit_code, 0);
  EXPECT_EQ(run_command(e2e::kvlab_binary() + " calibrate").exit_code, 2);
}

}  // namespace
}  // namespace kvlab
