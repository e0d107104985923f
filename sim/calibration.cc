#include "sim/calibration.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <memory>
#include <utility>

#include "core/engine.h"
#include "core/errors.h"
#include "core/executor.h"
#include "core/metrics.h"
#include "sim/field_error.h"
#include "sim/roofline_cost_model.h"

namespace kvlab {
namespace {

// The roofline model that prices `params`: the experiment's model with the efficiencies and
// overhead given (factors above 1 allowed: a device faster than the catalog's peaks).
RooflineCostModel model_with(const ExperimentConfig& config, const RooflineParams& params) {
  RooflineOptions options = RooflineOptions::from_settings(config.raw);
  options.compute_efficiency = params.compute_efficiency;
  options.bandwidth_efficiency = params.bandwidth_efficiency;
  options.step_overhead_ms = params.step_overhead_ms;
  return RooflineCostModel(config, options);
}

FitErrors errors_of(const std::vector<double>& predicted, const std::vector<double>& measured) {
  std::vector<double> rel(predicted.size());
  double sum_sq = 0, sum_predicted = 0, sum_measured = 0;
  for (size_t i = 0; i < rel.size(); ++i) {
    rel[i] = std::abs(predicted[i] - measured[i]) / measured[i];
    sum_sq += rel[i] * rel[i];
    sum_predicted += predicted[i];
    sum_measured += measured[i];
  }
  FitErrors e;
  e.median = percentile(rel, 50);
  e.p90 = percentile(rel, 90);
  e.rms = std::sqrt(sum_sq / static_cast<double>(rel.size()));
  e.total_ratio = sum_predicted / sum_measured;
  return e;
}

// The fit over (log compute_efficiency, log bandwidth_efficiency); the overhead is solved
// exactly for each candidate.
class Fitter {
 public:
  Fitter(const ExperimentConfig& config, std::vector<const StepShape*> shapes,
         std::vector<double> measured)
      : config_(config), shapes_(std::move(shapes)), measured_(std::move(measured)) {}

  // Predicted seconds without the step overhead.
  std::vector<double> base_seconds(double compute_eff, double bandwidth_eff) const {
    const RooflineCostModel model = model_with(config_, {compute_eff, bandwidth_eff, 0.0});
    std::vector<double> out(shapes_.size());
    for (size_t i = 0; i < shapes_.size(); ++i) out[i] = model.cost(*shapes_[i]).seconds;
    return out;
  }

  // For base times b_i the relative error (b_i + o - m_i) / m_i is minimized in the least
  // squares sense by o = sum((m_i - b_i) / m_i^2) / sum(1 / m_i^2); the objective is convex
  // in o, so clamping at 0 keeps the constrained optimum.
  double best_overhead_s(const std::vector<double>& base) const {
    double num = 0, den = 0;
    for (size_t i = 0; i < base.size(); ++i) {
      const double w = 1.0 / (measured_[i] * measured_[i]);
      num += (measured_[i] - base[i]) * w;
      den += w;
    }
    return std::max(0.0, num / den);
  }

  double objective(const std::vector<double>& base, double overhead_s) const {
    double sum = 0;
    for (size_t i = 0; i < base.size(); ++i) {
      const double r = (base[i] + overhead_s - measured_[i]) / measured_[i];
      sum += r * r;
    }
    return sum;
  }

  // (objective, overhead) at log10 efficiencies x, clamped to the search box.
  std::pair<double, double> evaluate(std::array<double, 2> x) const {
    x = clamp(x);
    const std::vector<double> base = base_seconds(std::pow(10.0, x[0]), std::pow(10.0, x[1]));
    const double o = best_overhead_s(base);
    return {objective(base, o), o};
  }

  static std::array<double, 2> clamp(std::array<double, 2> x) {
    for (double& v : x) v = std::clamp(v, kLogMin, kLogMax);
    return x;
  }

  // Nelder-Mead in 2-D from `start` (standard coefficients, fixed iteration budget).
  std::array<double, 2> nelder_mead(std::array<double, 2> start, double step) const {
    struct Vertex {
      std::array<double, 2> x;
      double f;
    };
    auto make = [&](std::array<double, 2> x) { return Vertex{clamp(x), evaluate(x).first}; };
    std::array<Vertex, 3> s = {make(start), make({start[0] + step, start[1]}),
                               make({start[0], start[1] + step})};
    auto lerp = [](const std::array<double, 2>& a, const std::array<double, 2>& b, double t) {
      return std::array<double, 2>{a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])};
    };
    for (int iter = 0; iter < 200; ++iter) {
      std::sort(s.begin(), s.end(), [](const Vertex& a, const Vertex& b) { return a.f < b.f; });
      const double size =
          std::max(std::abs(s[1].x[0] - s[0].x[0]) + std::abs(s[1].x[1] - s[0].x[1]),
                   std::abs(s[2].x[0] - s[0].x[0]) + std::abs(s[2].x[1] - s[0].x[1]));
      if (size < 1e-7) break;
      const std::array<double, 2> centroid = lerp(s[0].x, s[1].x, 0.5);
      const Vertex reflected = make(lerp(centroid, s[2].x, -1.0));
      if (reflected.f < s[0].f) {
        const Vertex expanded = make(lerp(centroid, s[2].x, -2.0));
        s[2] = expanded.f < reflected.f ? expanded : reflected;
      } else if (reflected.f < s[1].f) {
        s[2] = reflected;
      } else {
        const Vertex contracted = make(lerp(centroid, s[2].x, 0.5));
        if (contracted.f < s[2].f) {
          s[2] = contracted;
        } else {  // shrink towards the best vertex
          s[1] = make(lerp(s[0].x, s[1].x, 0.5));
          s[2] = make(lerp(s[0].x, s[2].x, 0.5));
        }
      }
    }
    std::sort(s.begin(), s.end(), [](const Vertex& a, const Vertex& b) { return a.f < b.f; });
    return s[0].x;
  }

  // Efficiencies from 1e-6 to 1e2 of the catalog's peaks.
  static constexpr double kLogMin = -6.0;
  static constexpr double kLogMax = 2.0;

 private:
  const ExperimentConfig& config_;
  std::vector<const StepShape*> shapes_;
  std::vector<double> measured_;
};

std::string format_double(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

}  // namespace

std::string CalibrationResult::backend_ini() const {
  std::string s = "[backend]\nkind = sim\ncost_model = roofline\n";
  s += "compute_efficiency = " + format_double(fitted.compute_efficiency) + "\n";
  s += "bandwidth_efficiency = " + format_double(fitted.bandwidth_efficiency) + "\n";
  s += "step_overhead_ms = " + format_double(fitted.step_overhead_ms) + "\n";
  return s;
}

double predict_step_seconds(const ExperimentConfig& config, const RooflineParams& params,
                            const StepShape& shape) {
  check_invariant(params.compute_efficiency > 0 && params.bandwidth_efficiency > 0 &&
                      params.step_overhead_ms >= 0,
                  "predict_step_seconds: efficiencies must be > 0 and the overhead >= 0");
  return model_with(config, params).cost(shape).seconds;
}

CalibrationResult calibrate_roofline(const ExperimentConfig& config,
                                     std::span<const StepSample> samples) {
  RooflineCostModel check(config);  // the model's own InputErrors (keys named) come first
  std::vector<const StepShape*> shapes;
  std::vector<double> measured;
  for (const StepSample& s : samples) {
    if (!(s.measured_s > 0) || !std::isfinite(s.measured_s)) continue;
    shapes.push_back(&s.shape);
    measured.push_back(s.measured_s);
  }
  if (shapes.size() < kMinCalibrationSteps) {
    throw InputError("calibration needs at least " + std::to_string(kMinCalibrationSteps) +
                     " measured steps, got " + std::to_string(shapes.size()) +
                     " (run more requests: workload.num_requests)");
  }

  CalibrationResult out;
  out.hardware = config.hardware.name;
  out.steps_used = shapes.size();
  const RooflineOptions initial = RooflineOptions::from_settings(config.raw);
  out.initial = {initial.compute_efficiency, initial.bandwidth_efficiency,
                 initial.step_overhead_ms};
  {
    std::vector<double> predicted(shapes.size());
    for (size_t i = 0; i < shapes.size(); ++i) predicted[i] = check.cost(*shapes[i]).seconds;
    out.before = errors_of(predicted, measured);
  }

  const Fitter fitter(config, shapes, measured);
  // Grid over the log box (0.5 decades apart), then Nelder-Mead from the three best points.
  std::vector<std::pair<double, std::array<double, 2>>> grid;
  for (double a = Fitter::kLogMin; a <= Fitter::kLogMax + 1e-9; a += 0.5) {
    for (double b = Fitter::kLogMin; b <= Fitter::kLogMax + 1e-9; b += 0.5) {
      grid.push_back({fitter.evaluate({a, b}).first, {a, b}});
    }
  }
  std::stable_sort(grid.begin(), grid.end(),
                   [](const auto& l, const auto& r) { return l.first < r.first; });
  std::array<double, 2> best = grid.front().second;
  double best_f = grid.front().first;
  for (size_t k = 0; k < std::min<size_t>(3, grid.size()); ++k) {
    const std::array<double, 2> x = fitter.nelder_mead(grid[k].second, 0.25);
    const double f = fitter.evaluate(x).first;
    if (f < best_f) {
      best_f = f;
      best = x;
    }
  }
  const double overhead_s = fitter.evaluate(best).second;
  out.fitted = {std::pow(10.0, best[0]), std::pow(10.0, best[1]), overhead_s * 1e3};

  std::vector<double> predicted(shapes.size());
  for (size_t i = 0; i < shapes.size(); ++i) {
    predicted[i] = predict_step_seconds(config, out.fitted, *shapes[i]);
  }
  out.after = errors_of(predicted, measured);
  return out;
}

namespace {

// Forwards to the real executor and keeps (shape, measured seconds) of every plan it runs.
// The shape is read before execute(): the scheduler applies the step (advancing num_computed)
// only after the executor returns. Fork copies run after the plan in the same step
// (copy_within): they join that step's sample, in its device_copies and its measured time,
// as the cost model prices them within the step.
class RecordingExecutor : public Executor {
 public:
  RecordingExecutor(std::unique_ptr<Executor> inner, std::vector<StepSample>* samples)
      : inner_(std::move(inner)), samples_(samples) {}
  std::string name() const override { return inner_->name(); }
  bool is_real() const override { return inner_->is_real(); }
  bool runs_on_catalog_hardware() const override { return inner_->runs_on_catalog_hardware(); }
  StepResult execute(const SchedulerOutput& plan, const KvCacheManager& kv) override {
    StepShape shape = describe_step(plan);
    StepResult result = inner_->execute(plan, kv);
    samples_->push_back({std::move(shape), result.duration_s});
    return result;
  }
  double copy_within(const std::vector<KvCopy>& copies) override {
    const double seconds = inner_->copy_within(copies);
    check_invariant(!samples_->empty(), "fork copies before any step ran");
    StepSample& step = samples_->back();
    step.shape.device_copies.insert(step.shape.device_copies.end(), copies.begin(), copies.end());
    step.measured_s += seconds;
    return seconds;
  }

 private:
  std::unique_ptr<Executor> inner_;
  std::vector<StepSample>* samples_;
};

}  // namespace

std::vector<StepSample> collect_step_samples(const ExperimentConfig& resolved,
                                             const std::vector<RequestSpec>& requests,
                                             RunResult* run) {
  validate_engine_config(resolved);  // unknown names fail here, naming their keys
  if (!executors().entry(resolved.backend.kind).traits.real) {
    const std::string kind = "'" + resolved.backend.kind + "'";
    fail_field(resolved.raw, "backend.kind",
               "calibration needs a real back end (cpu or cuda) whose steps take measured time; " +
                   kind + " prices steps with a cost model");
  }
  std::vector<StepSample> samples;
  auto engine =
      make_engine(resolved, [&](std::unique_ptr<Executor> executor) -> std::unique_ptr<Executor> {
        return std::make_unique<RecordingExecutor>(std::move(executor), &samples);
      });
  RunResult result = engine->run(requests);
  if (run != nullptr) *run = std::move(result);
  return samples;
}

}  // namespace kvlab
