// Calibration of the roofline cost model (sim/roofline_cost_model.h) against a real back end,
// the way Vidur profiles kernels to calibrate its simulator: run an experiment on `cpu` or
// `cuda`, keep every step's StepShape (what the cost model would price) with the seconds the
// executor measured, and fit backend.compute_efficiency, backend.bandwidth_efficiency and
// backend.step_overhead_ms for the experiment's hardware.name.
//
// The fit minimizes the relative squared error sum_i ((predicted_i - measured_i) / measured_i)^2
// where predicted_i = RooflineCostModel(config with the candidate parameters).cost(shape_i)
// .seconds. The efficiencies are fitted as free positive factors (a CPU runs far below a GPU's
// peak, and a back end may beat the catalog's peak): values above 1 are reported as such, and
// RooflineCostModel itself, which accepts only (0, 1], can then not take them as they are. The
// optimizer is deterministic: the step overhead has a closed form for given efficiencies (the
// objective is quadratic in it, clamped at 0), and the two efficiencies are searched in
// log space by a grid followed by Nelder-Mead from the best grid points.
//
// Thread safety: the functions keep no state; concurrent calls are safe.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "core/cost_model.h"
#include "core/experiment.h"
#include "core/metrics.h"
#include "core/workload.h"

namespace kvlab {

// One measured step: the work, and how long the real back end took for it.
struct StepSample {
  StepShape shape;
  double measured_s = 0;
};

struct RooflineParams {
  double compute_efficiency = 0;
  double bandwidth_efficiency = 0;
  double step_overhead_ms = 0;
};

// Relative errors |predicted - measured| / measured over the samples.
struct FitErrors {
  double median = 0;
  double p90 = 0;
  double rms = 0;  // sqrt(mean squared relative error): what the fit minimizes
  // sum(predicted) / sum(measured): how far the run's total busy time is off. The relative
  // error weighs every step alike, so with noisy timings (occasional slow steps) the fit
  // predicts low and this ratio shows by how much.
  double total_ratio = 0;
};

struct CalibrationResult {
  std::string hardware;  // hardware.name the efficiencies are relative to
  size_t steps_used = 0;
  RooflineParams initial;  // the experiment's own backend.* values
  RooflineParams fitted;
  FitErrors before;  // with `initial`
  FitErrors after;   // with `fitted`
  // The [backend] lines for a simulator experiment (backend.kind = sim) on `hardware`.
  std::string backend_ini() const;
};

// Fewest steps calibrate_roofline accepts: three parameters need a margin of samples.
inline constexpr size_t kMinCalibrationSteps = 10;

// The predicted step time with `params` in place of config.backend's efficiencies and
// overhead (efficiencies > 1 allowed: they scale the hardware's peaks).
// REQUIRES: params.compute_efficiency > 0, params.bandwidth_efficiency > 0,
// params.step_overhead_ms >= 0.
double predict_step_seconds(const ExperimentConfig& config, const RooflineParams& params,
                            const StepShape& shape);

// Fits the three parameters to `samples`. Samples with measured_s <= 0 are not used. Throws
// InputError when fewer than kMinCalibrationSteps usable samples remain, or when the roofline
// model rejects `config` (the message names the key).
CalibrationResult calibrate_roofline(const ExperimentConfig& config,
                                     std::span<const StepSample> samples);

// Runs `requests` (already prepared for the back end: requests_for_backend) on the back end
// `config` names and returns one sample per engine step that ran work, in step order: the
// StepShape read before the step is applied (describe_step) and the executor's duration_s;
// a step that forked samples whose KV the manager copies also carries those copies (in
// device_copies) and their measured time (Executor::copy_within).
// The Engine is built like make_engine does, with the executor wrapped to observe each plan.
// Throws InputError naming backend.kind when the back end is not real (its steps would be
// priced by a cost model, not measured).
// When `run` is not null it receives the run's result (steps, requests, summary).
std::vector<StepSample> collect_step_samples(const ExperimentConfig& config,
                                             const std::vector<RequestSpec>& requests,
                                             RunResult* run = nullptr);

}  // namespace kvlab
