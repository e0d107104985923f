// Fits a profile's ProfileOverhead (core/operator_profile.h) to the whole steps the profiler
// measured (OperatorProfile::fit_steps). For step i with operator sum o_i (ProfiledCostModel
// with no overhead and scale 1), E_i sequences, T_i tokens and measured m_i, the model
// scale x o_i + base + per_sequence x E_i + per_token x T_i is fitted to m_i by least squares
// on the relative error, every coefficient >= 0 and scale > 0 (the best of the fits over each
// subset of the glue's three coefficients whose solution is non-negative). The scale absorbs
// what timing operators alone misses inside a step (caches, allocations); the glue what no
// operator covers.
#pragma once

#include "core/experiment.h"
#include "core/operator_profile.h"

namespace kvlab {

// Sets profile->overheads from profile->fit_steps: one fit per layout the steps ran over (the
// glue differs: block tables against base offsets). REQUIRES: at least one fit step; the
// profile matches `config` (ProfiledCostModel's checks).
void fit_profile_overhead(const ExperimentConfig& config, OperatorProfile* profile);

}  // namespace kvlab
