// ProfiledCostModel ("profiled"): a step's time from a profile of a real back end's operators
// (core/operator_profile.h, written by `kvlab profile`, read from backend.profile), in the
// spirit of Vidur: each operator's measured time at the step's size, summed.
//
// Prediction is piecewise-linear interpolation in each table (bilinear over two axes), not a
// fitted model: on the grid it returns the measured medians exactly, between grid points the
// operators' times are close to linear in tokens, rows, slots and context (GEMMs and attention
// over a small model are in their linear regime past a few tokens), and a lookup is a binary
// search over a few points, cheap enough for millions of simulated requests a minute. Vidur
// fits random forests because its grid is sparse over many axes; here every table has one or
// two axes, densely sampled, and a forest would predict a step as a step-shaped average of its
// neighbours (no better, and ~100x slower to evaluate).
//
// Terms, for a step of T tokens, S sampled rows, E sequences, L layers:
//  gemm       L x layer_linear(T) + lm_head(S)         (the projections, MLP, final norm + head)
//  elementwise L x layer_elementwise(T) + embedding(T) (norms, rotary, activation, embeddings)
//  attention  L x (cache_write(T) + sum over chunks prefill_attention_<layout>(chunk, start))
//             + L x decode_attention_<layout>(decodes, mean context)
//  sampling   sampling(S)
//  swap       sum over swap_out and swap_in copies of swap_copy(slots)
//  copy       sum over device copies of kv_copy(slots)
//  overhead   base + per_sequence x E + per_token x T (the profile's fitted glue; 0 when T = 0)
// Every term but overhead is multiplied by its operator class's scale in the profile
// (ProfileOverhead::operator_scale, core/operator_profile.h; fitted with the glue to whole
// steps: operators timed alone run slower or faster than inside a step, and not alike): gemm,
// elementwise and sampling by their own, attention's first line by prefill_attention's and its
// second by decode_attention's, swap and copy by copy's.
// <layout> is the memory policy's: "paged<block_size>" for a policy that swaps in blocks
// (MemoryPolicyTraits::swap_unit_slots > 0), else "contiguous" (virtual memory too: the cpu back
// end runs the contiguous kernels over it; its page mapping is not profiled and not priced).
//
// Out of range: a size above a table's last grid point (or below its first) is extrapolated
// linearly from the nearest segment (never below 0), and the step is counted: the first such
// step prints a warning naming the table, the axis and the value; out_of_range_steps() and
// the line the model prints when destroyed say how many of how many steps were, and each such
// step's StepCost::outside_profile puts it in the run's summary (profile_out_of_range_steps).
//
// Construction checks the profile against the experiment: the same model shape and KV dtype
// (else InputError naming backend.profile and both shapes), and the tables the experiment's
// layout needs.
//
// Thread safety: cost() is const; the out-of-range counters are atomics (they do not affect
// any result). Concurrent calls are safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/cost_model.h"
#include "core/experiment.h"
#include "core/operator_profile.h"

namespace kvlab {

// One table ready for lookups: piecewise-linear over one axis, or bilinear over two.
class ProfileInterpolator {
 public:
  ProfileInterpolator() = default;
  explicit ProfileInterpolator(const ProfileTable& table);
  // The median seconds at (x) or (x, y); sets *outside when a coordinate lies off the grid.
  double at(double x, bool* outside) const;
  double at(double x, double y, bool* outside) const;
  const std::string& name() const { return name_; }
  const std::vector<double>& xs() const { return x_; }
  const std::vector<double>& ys() const { return y_; }

 private:
  std::string name_;
  std::vector<double> x_, y_;  // y_ empty for one axis
  std::vector<double> v_;
};

class ProfiledCostModel : public CostModel {
 public:
  // Reads backend.profile (relative to the config file). Throws InputError naming
  // backend.profile when it is empty, unreadable, malformed, or does not match the experiment.
  explicit ProfiledCostModel(const ExperimentConfig& config);
  // With the profile given directly (fidelity, tests).
  ProfiledCostModel(const ExperimentConfig& config, const OperatorProfile& profile);
  // With the attention layout given ("contiguous", "paged16") instead of the experiment's
  // (the overhead fit prices each layout's steps).
  ProfiledCostModel(const ExperimentConfig& config, const OperatorProfile& profile,
                    const std::string& layout);
  ~ProfiledCostModel() override;

  std::string name() const override { return "profiled"; }
  StepCost cost(const StepShape& step) const override;
  double copy_seconds(const std::vector<KvCopy>& device_copies) const override;

  // A step's operator times by class (OperatorClass order), unscaled and without the glue; the
  // swap copies apart (priced at the copy class's scale); the first size off the grid, if any.
  // Counts nothing (the overhead fit prices its steps with it).
  struct OperatorTimes {
    double seconds[kNumOperatorClasses] = {};
    double swap_s = 0;
    bool outside = false;
    const char* what = "";
    double value = 0;
  };
  OperatorTimes operator_times(const StepShape& step) const;

  // Steps priced so far, and those with a size off the profiled grid.
  int64_t steps() const { return steps_.load(); }
  int64_t out_of_range_steps() const { return out_of_range_steps_.load(); }
  // The attention layout tables used: "contiguous" or "paged16", ...
  const std::string& layout() const { return layout_; }

 private:
  void note_outside(const char* what, double value) const;

  int32_t layers_ = 0;
  std::string layout_;
  ProfileInterpolator linear_, elementwise_, embedding_, lm_head_, sampling_, cache_write_;
  ProfileInterpolator decode_, prefill_, kv_copy_, swap_copy_;
  ProfileOverhead overhead_;
  mutable std::atomic<int64_t> steps_{0};
  mutable std::atomic<int64_t> out_of_range_steps_{0};
  mutable std::atomic<bool> warned_{false};
};

// The keys the profiled model reads (backend.profile), declared once.
std::vector<KeySpec> profiled_keys();
// Registers "profiled" (and its keys) in `registry`.
void register_profiled_cost_model(CostModelRegistry& registry);

}  // namespace kvlab
