// `kvlab calibrate`: fits the roofline cost model's efficiencies and step overhead to the step
// times a real back end measured (sim/calibration.h).
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/cli/commands.h"
#include "app/cli/parse_options.h"
#include "app/experiment_runner.h"
#include "app/output_files.h"
#include "app/results_writer.h"
#include "core/config.h"
#include "core/errors.h"
#include "sim/calibration.h"

namespace po = boost::program_options;

namespace kvlab::cli {

namespace {

nlohmann::ordered_json params_json(const RooflineParams& p) {
  return {{"compute_efficiency", p.compute_efficiency},
          {"bandwidth_efficiency", p.bandwidth_efficiency},
          {"step_overhead_ms", p.step_overhead_ms}};
}

nlohmann::ordered_json errors_json(const FitErrors& e) {
  return {{"median", e.median}, {"p90", e.p90}, {"rms", e.rms}, {"total_ratio", e.total_ratio}};
}

void print_result(const std::string& label, const ExperimentConfig& config, size_t steps_run,
                  size_t skipped, const CalibrationResult& r) {
  std::printf("calibration of roofline on %s (%s back end, model %s%s%s)\n", r.hardware.c_str(),
              config.backend.kind.c_str(), config.model.name.c_str(),
              label.empty() ? "" : ", point ", label.c_str());
  std::printf("steps: %zu run, %zu skipped as warm-up, %zu used\n", steps_run, skipped,
              r.steps_used);
  std::printf("%-22s %14s %14s\n", "", "experiment", "fitted");
  std::printf("%-22s %14.4g %14.4g\n", "compute_efficiency", r.initial.compute_efficiency,
              r.fitted.compute_efficiency);
  std::printf("%-22s %14.4g %14.4g\n", "bandwidth_efficiency", r.initial.bandwidth_efficiency,
              r.fitted.bandwidth_efficiency);
  std::printf("%-22s %14.4g %14.4g\n", "step_overhead_ms", r.initial.step_overhead_ms,
              r.fitted.step_overhead_ms);
  std::printf("%-22s %13.1f%% %13.1f%%\n", "median rel. error", 100 * r.before.median,
              100 * r.after.median);
  std::printf("%-22s %13.1f%% %13.1f%%\n", "p90 rel. error", 100 * r.before.p90, 100 * r.after.p90);
  std::printf("%-22s %13.1f%% %13.1f%%\n", "rms rel. error", 100 * r.before.rms, 100 * r.after.rms);
  std::printf("%-22s %14.3f %14.3f\n", "total predicted/meas.", r.before.total_ratio,
              r.after.total_ratio);
  for (const auto& [name, value] :
       {std::pair{"compute_efficiency", r.fitted.compute_efficiency},
        std::pair{"bandwidth_efficiency", r.fitted.bandwidth_efficiency}}) {
    if (value > 1.0) {
      std::printf(
          "note: %s %.4g exceeds 1: this back end beats %s's catalog peak; the roofline "
          "model accepts (0, 1] only, so simulate it on a hardware entry with higher peaks\n",
          name, value, r.hardware.c_str());
    }
  }
  std::printf("for a simulator experiment on hardware.name = %s:\n%s", r.hardware.c_str(),
              r.backend_ini().c_str());
}

}  // namespace

int calibrate_command(const std::vector<std::string>& args) {
  po::options_description options("kvlab calibrate CONFIG.ini [options]");
  std::vector<std::string> sets;
  std::string out;
  int skip = 1;
  options.add_options()("help,h", "this help")(
      "set", po::value<std::vector<std::string>>(&sets)->composing(),
      "override a key: --set section.key=value (repeatable)")(
      "out", po::value<std::string>(&out), "also write the fit as JSON to this file")(
      "skip-steps", po::value<int>(&skip)->default_value(1),
      "leave out the first N steps of each run (warm-up: first touches, allocations)");
  std::string config_path;
  po::variables_map vm;
  switch (parse_options("kvlab calibrate", args, options, "CONFIG.ini", config_path, vm,
                        "\nRuns the experiment (every point of its [sweep]) on its real back end "
                        "(backend.kind = cpu or cuda),\nkeeps each step's shape and measured time, and "
                        "fits backend.compute_efficiency,\nbackend.bandwidth_efficiency and "
                        "backend.step_overhead_ms of the roofline cost model for hardware.name.\n")) {
    case Parsed::kHelpShown: return 0;
    case Parsed::kUsageError: return 2;
    case Parsed::kRun: break;
  }
  if (skip < 0) throw InputError("--skip-steps", 0, "", "must not be negative");

  Config config = Config::load(config_path);
  for (const std::string& s : sets) config.set_override(s);
  if (!out.empty()) check_output_path(out, "--out");  // before the run, not after
  const std::vector<PreparedPoint> points = prepare_experiment(config, Shard{});
  nlohmann::ordered_json fits = nlohmann::ordered_json::array();
  for (size_t k = 0; k < points.size(); ++k) {
    const PreparedPoint& p = points[k];
    const std::vector<RequestSpec> requests = requests_for_backend(p.config, p.workload->requests);
    std::vector<StepSample> samples = collect_step_samples(p.config, requests);
    const size_t run = samples.size();
    const size_t skipped = std::min(run, static_cast<size_t>(skip));
    const std::span<const StepSample> used(samples.data() + skipped, run - skipped);
    const CalibrationResult r = calibrate_roofline(p.config, used);
    if (k > 0) std::printf("\n");
    print_result(p.point.label, p.config, run, skipped, r);
    fits.push_back({{"label", p.point.label},
                    {"backend", p.config.backend.kind},
                    {"hardware", r.hardware},
                    {"model", p.config.model.name},
                    {"steps_run", run},
                    {"steps_used", r.steps_used},
                    {"initial", params_json(r.initial)},
                    {"fitted", params_json(r.fitted)},
                    {"rel_error_before", errors_json(r.before)},
                    {"rel_error_after", errors_json(r.after)}});
  }
  const nlohmann::ordered_json doc = {{"config", config_path}, {"points", std::move(fits)}};
  if (!out.empty()) {
    write_file_atomically(out, json_text(doc), "--out");
    std::printf("wrote %s\n", out.c_str());
  }
  return 0;
}

}  // namespace kvlab::cli
