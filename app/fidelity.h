// Profiles and fidelity: `kvlab profile` (a real back end's operators measured over a grid,
// core/operator_profile.h, with the overhead fit of sim/profile_fit.h) and `kvlab fidelity`
// (the same experiment on the real back end and on the simulator with the profiled cost
// model, compared step by step and in its summary). docs/reproduction.md § Fidelity.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/experiment.h"
#include "core/metrics.h"
#include "core/operator_profile.h"
#include "core/workload.h"

namespace kvlab {

// Profiles the back end `config` names (ExecutorTraits::profile) and fits the overhead; stamps
// the date (UTC), kvlab's commit and `command`. Throws InputError naming backend.kind for a
// back end that cannot be profiled.
OperatorProfile make_profile(const ExperimentConfig& config, const ProfileGrid& grid,
                             const std::string& command);

// kvlab's git commit when it was configured ("unknown" outside a git checkout).
std::string kvlab_commit();

struct RelativeError {
  double real = 0, sim = 0;
  double error() const { return real != 0 ? (sim - real) / real : 0.0; }  // signed
};

struct FidelityReport {
  int32_t real_runs = 1;
  int64_t steps_real = 0, steps_sim = 0;  // of the first real run
  // Whether every real run executed the same steps (same batches, same prices): then a step's
  // measured time is its median over the runs; otherwise every run's steps are pooled.
  bool steps_aligned = false;
  int64_t steps_priced = 0;      // steps whose recorded shape the profile priced (aligned: of one
                                 // run; pooled: of all runs)
  double step_error_median = 0;  // |predicted - measured| / measured over those steps
  // Aligned runs only (else 0): median over the steps of (slowest - fastest) / median of a
  // step's times over the runs; how much the machine moved the real side while it was measured.
  double real_step_spread = 0;
  double step_error_p90 = 0;
  double step_total_ratio = 0;     // sum predicted / sum measured
  int64_t out_of_range_steps = 0;  // of the simulator run's steps
  // Real values: the median over the real runs.
  RelativeError throughput_tok_s, ttft_p50_s, ttft_p99_s, tpot_p50_s, tpot_p99_s, duration_s;
  // Memory breakdown, step by step over the steps both runs have.
  bool memory_identical = false;
  int64_t memory_steps_compared = 0;
  int64_t first_difference = -1;     // step index, -1 when none
  bool batch_differs_first = false;  // the step's batch differed (scheduling followed the
                                     // clocks apart: arrivals), not only its memory
  int64_t real_preemptions = 0, sim_preemptions = 0;
  // Every step of each real run, priced (skipped warm-up steps included, so the first steps'
  // cold costs can be read off): where the TTFT and step errors come from.
  struct Step {
    int32_t prefill_seqs = 0, decode_seqs = 0;
    int64_t prefill_tokens = 0;
    double measured_s = 0, predicted_s = 0;
  };
  std::vector<std::vector<Step>> run_steps;
};

// The step errors of `r->run_steps` (the first `skip_steps` of each run left out): sets
// steps_aligned, steps_priced, step_error_median / _p90, step_total_ratio and real_step_spread.
void score_steps(int skip_steps, FidelityReport* r);

// Runs `requests` (as requests_for_backend gives them to a real back end) `real_runs` times on
// the real back end `config` names (timings on a shared machine are noisy: the summary's real
// values are medians over the runs, and so is each step's measured time when the runs executed
// the same steps; otherwise step errors pool every run's steps), then the simulator with
// `profile` (ProfiledCostModel) on the same requests and settings, and compares them. The first
// `skip_steps` real steps are left out of the step errors (warm-up). Throws InputError naming the
// key for a back end that is not real, or for backend.realtime = true (the comparison needs the
// virtual clock).
FidelityReport measure_fidelity(const ExperimentConfig& config,
                                const std::vector<RequestSpec>& requests,
                                const OperatorProfile& profile, int skip_steps, int real_runs = 5);

// Compares the memory breakdowns of two runs' steps (the fields of FidelityReport from
// memory_identical on).
void compare_memory(const RunResult& real, const RunResult& sim, FidelityReport* report);

}  // namespace kvlab
