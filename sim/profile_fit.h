// Fits a profile's per-step overhead (ProfileOverhead, core/operator_profile.h) to the whole
// steps the profiler measured (OperatorProfile::fit_steps): the part of a step's time its
// operators do not explain (building the batch and the KV tables, allocations, the sampling
// loop). For step i with operator sum o_i (ProfiledCostModel with no overhead) and measured
// m_i, base + per_sequence x E_i + per_token x T_i is fitted to m_i - o_i by least squares on
// the relative error ((o_i + overhead_i - m_i) / m_i), every coefficient >= 0 (the best of
// the fits over each subset of the three coefficients whose solution is non-negative).
#pragma once

#include "core/experiment.h"
#include "core/operator_profile.h"

namespace kvlab {

// Sets profile->overhead from profile->fit_steps. REQUIRES: at least one fit step; the
// profile matches `config` (ProfiledCostModel's checks).
void fit_profile_overhead(const ExperimentConfig& config, OperatorProfile* profile);

}  // namespace kvlab
