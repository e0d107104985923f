// Fits a profile's ProfileOverhead (core/operator_profile.h) to the whole steps the profiler
// measured (OperatorProfile::fit_steps). For step i with operator times o_gi per group g of
// operator classes (ProfiledCostModel::operator_times, unscaled, no glue, summed over the
// group), E_i sequences, T_i tokens and measured m_i, the model
//   sum over g of scale_g x o_gi + base + per_sequence x E_i + per_token x T_i
// is fitted to m_i by least squares on the relative error, every coefficient >= 0 and every
// scale > 0 (the best of the fits over each subset of the glue's three coefficients whose
// solution is non-negative). Three groups: prefill attention (with the cache writes), decode
// attention, and the rest (GEMMs, element-wise operators, sampling: fitted apart they trade
// off against the glue; why, in profile_fit.cc); each class gets its group's scale. A group no
// step uses keeps scale 1, and so does "copy" (the steps move no KV). The scales absorb what
// timing operators alone misses inside a step (caches, allocations), which is not the same for
// attention as for the rest; the glue what no operator covers.
#pragma once

#include "core/experiment.h"
#include "core/operator_profile.h"

namespace kvlab {

// Sets profile->overheads from profile->fit_steps: one fit per layout the steps ran over (the
// glue differs: block tables against base offsets). Throws InputError when the profile has no
// fit steps (a profile file written before they were stored: profile again). REQUIRES: the
// profile matches `config` (ProfiledCostModel's checks).
void fit_profile_overhead(const ExperimentConfig& config, OperatorProfile* profile);

}  // namespace kvlab
