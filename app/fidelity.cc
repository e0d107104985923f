#include "app/fidelity.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <memory>

#include "core/engine.h"
#include "core/errors.h"
#include "core/executor.h"
#include "sim/calibration.h"
#include "sim/field_error.h"
#include "sim/profile_fit.h"
#include "sim/profiled_cost_model.h"
#include "sim/sim_executor.h"

#ifndef KVLAB_GIT_COMMIT
#define KVLAB_GIT_COMMIT "unknown"
#endif

namespace kvlab {

std::string kvlab_commit() { return KVLAB_GIT_COMMIT; }

namespace {

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The real value is the median over the real runs.
RelativeError pair_of(const std::vector<RunResult>& reals, const RunResult& sim,
                      const std::string& name) {
  std::vector<double> values;
  for (const RunResult& real : reals) values.push_back(real.summary.get(name));
  return {percentile(values, 50), sim.summary.get(name)};
}

bool same_batch(const StepRecord& a, const StepRecord& b) {
  return a.num_prefill_seqs == b.num_prefill_seqs && a.num_decode_seqs == b.num_decode_seqs &&
         a.prefill_tokens == b.prefill_tokens && a.decode_tokens == b.decode_tokens &&
         a.num_running == b.num_running && a.num_waiting == b.num_waiting &&
         a.num_swapped == b.num_swapped;
}

}  // namespace

OperatorProfile make_profile(const ExperimentConfig& config, const ProfileGrid& grid,
                             const std::string& command) {
  const ExecutorTraits& traits = executors().entry(config.backend.kind).traits;
  if (!traits.profile) {
    fail_field(config.raw, "backend.kind",
               "back end '" + config.backend.kind +
                   "' cannot be profiled here (profiling runs a real back end's operators: "
                   "backend.kind = cpu; cuda: docs/gpu-session.md)");
  }
  validate_engine_config(config);
  OperatorProfile p = traits.profile(config, grid);
  p.date = utc_now();
  p.commit = kvlab_commit();
  p.command = command;
  fit_profile_overhead(config, &p);
  return p;
}

void compare_memory(const RunResult& real, const RunResult& sim, FidelityReport* r) {
  const size_t n = std::min(real.steps.size(), sim.steps.size());
  r->memory_steps_compared = static_cast<int64_t>(n);
  r->first_difference = -1;
  for (size_t i = 0; i < n; ++i) {
    const StepRecord& a = real.steps[i];
    const StepRecord& b = sim.steps[i];
    if (!same_batch(a, b) || !(a.memory == b.memory)) {
      r->first_difference = static_cast<int64_t>(i);
      r->batch_differs_first = !same_batch(a, b);
      break;
    }
  }
  if (r->first_difference < 0 && real.steps.size() != sim.steps.size()) {
    r->first_difference = static_cast<int64_t>(n);
  }
  r->memory_identical = r->first_difference < 0;
}

void score_steps(int skip_steps, FidelityReport* r) {
  // The runs execute the same steps when their schedules agree (burst arrivals, or arrivals the
  // clocks meet alike): then a step's real time is its median over the runs, so a moment of
  // interference in one run (another process on the machine) does not count as the profile's
  // error. Otherwise every run's steps are pooled.
  const std::vector<std::vector<FidelityReport::Step>>& runs = r->run_steps;
  r->steps_priced = 0;
  r->step_error_median = r->step_error_p90 = r->step_total_ratio = r->real_step_spread = 0;
  r->steps_aligned = false;
  if (runs.empty()) return;
  r->steps_aligned = true;
  for (const std::vector<FidelityReport::Step>& run : runs) {
    if (run.size() != runs.front().size()) r->steps_aligned = false;
  }
  for (size_t i = 0; r->steps_aligned && i < runs.front().size(); ++i) {
    const FidelityReport::Step& a = runs.front()[i];
    for (const std::vector<FidelityReport::Step>& run : runs) {
      const FidelityReport::Step& b = run[i];
      if (b.prefill_seqs != a.prefill_seqs || b.decode_seqs != a.decode_seqs ||
          b.prefill_tokens != a.prefill_tokens || b.predicted_s != a.predicted_s) {
        r->steps_aligned = false;
        break;
      }
    }
  }
  std::vector<double> rel, spread;
  double sum_predicted = 0, sum_measured = 0;
  const auto price = [&](double predicted, double measured) {
    if (!(measured > 0)) return;
    rel.push_back(std::abs(predicted - measured) / measured);
    sum_predicted += predicted;
    sum_measured += measured;
  };
  const size_t first = static_cast<size_t>(std::max(0, skip_steps));
  if (r->steps_aligned) {
    for (size_t i = first; i < runs.front().size(); ++i) {
      std::vector<double> measured;
      for (const std::vector<FidelityReport::Step>& run : runs) {
        measured.push_back(run[i].measured_s);
      }
      const double median = percentile(measured, 50);
      price(runs.front()[i].predicted_s, median);
      if (runs.size() > 1 && median > 0) {
        const auto [lo, hi] = std::minmax_element(measured.begin(), measured.end());
        spread.push_back((*hi - *lo) / median);
      }
    }
  } else {
    for (const std::vector<FidelityReport::Step>& run : runs) {
      for (size_t i = first; i < run.size(); ++i) price(run[i].predicted_s, run[i].measured_s);
    }
  }
  if (!spread.empty()) r->real_step_spread = percentile(spread, 50);
  r->steps_priced = static_cast<int64_t>(rel.size());
  if (!rel.empty()) {
    r->step_error_median = percentile(rel, 50);
    r->step_error_p90 = percentile(rel, 90);
    r->step_total_ratio = sum_predicted / sum_measured;
  }
}

FidelityReport measure_fidelity(const ExperimentConfig& config,
                                const std::vector<RequestSpec>& requests,
                                const OperatorProfile& profile, int skip_steps, int real_runs) {
  if (config.backend.realtime) {
    fail_field(config.raw, "backend.realtime",
               "fidelity compares the real back end's virtual clock (advanced by measured step "
               "times) with the simulator's: set backend.realtime = false");
  }
  // The profile must fit the experiment before anything runs.
  ExperimentConfig sim_config = config;
  sim_config.backend.kind = "sim";
  { const ProfiledCostModel check(sim_config, profile); }

  check_invariant(real_runs >= 1, "measure_fidelity: real_runs must be >= 1");
  std::vector<RunResult> reals(static_cast<size_t>(real_runs));
  std::vector<std::vector<StepSample>> samples;
  for (RunResult& real : reals) samples.push_back(collect_step_samples(config, requests, &real));

  // The simulator: the Engine make_engine builds for backend.kind = sim, its executor
  // replaced by one that prices steps with this profile.
  auto engine =
      make_engine(sim_config, [&](std::unique_ptr<Executor>) -> std::unique_ptr<Executor> {
        return std::make_unique<SimExecutor>(
            std::make_unique<ProfiledCostModel>(sim_config, profile));
      });
  RunResult sim = engine->run(requests);

  FidelityReport r;
  r.real_runs = real_runs;
  r.steps_real = static_cast<int64_t>(reals.front().steps.size());
  r.steps_sim = static_cast<int64_t>(sim.steps.size());
  r.out_of_range_steps = static_cast<int64_t>(sim.summary.get("profile_out_of_range_steps"));

  // Per-step error: the real runs' recorded shapes priced by the profile (the fork copies a
  // sample carries are priced by copy_seconds, as the simulator does).
  const ProfiledCostModel pricer(sim_config, profile);
  for (const std::vector<StepSample>& run : samples) {
    std::vector<FidelityReport::Step>& steps = r.run_steps.emplace_back();
    for (const StepSample& s : run) {
      FidelityReport::Step step;
      step.prefill_seqs = static_cast<int32_t>(s.shape.prefills.size());
      step.decode_seqs = static_cast<int32_t>(s.shape.decode_context_lens.size());
      for (const StepShape::PrefillChunk& c : s.shape.prefills) step.prefill_tokens += c.num_tokens;
      step.measured_s = s.measured_s;
      step.predicted_s = pricer.cost(s.shape).seconds;
      steps.push_back(step);
    }
  }
  score_steps(skip_steps, &r);
  r.throughput_tok_s = pair_of(reals, sim, "throughput_tok_s");
  r.ttft_p50_s = pair_of(reals, sim, "ttft_p50_s");
  r.ttft_p99_s = pair_of(reals, sim, "ttft_p99_s");
  r.tpot_p50_s = pair_of(reals, sim, "tpot_p50_s");
  r.tpot_p99_s = pair_of(reals, sim, "tpot_p99_s");
  r.duration_s = pair_of(reals, sim, "duration_s");
  r.real_preemptions = static_cast<int64_t>(reals.front().summary.get("num_preemptions"));
  r.sim_preemptions = static_cast<int64_t>(sim.summary.get("num_preemptions"));
  // Identical only if every real run's steps are the simulator's.
  for (const RunResult& real : reals) {
    FidelityReport one;
    compare_memory(real, sim, &one);
    if (&real == &reals.front() || !one.memory_identical) {
      r.memory_identical = one.memory_identical;
      r.memory_steps_compared = one.memory_steps_compared;
      r.first_difference = one.first_difference;
      r.batch_differs_first = one.batch_differs_first;
    }
    if (!one.memory_identical) break;
  }
  return r;
}

}  // namespace kvlab
