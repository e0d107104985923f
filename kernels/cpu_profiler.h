// The cpu back end's profiler (`kvlab profile`, ExecutorTraits::profile): times each operator
// the cpu model runs in a step, for the experiment's model shape and KV dtype, over a grid:
//
//   layer_linear       [tokens]          one layer's projections and MLP GEMMs (with biases)
//   layer_elementwise  [tokens]          one layer's norms, rotary (llama), activation
//   embedding          [tokens]          token (and position) embedding rows
//   cache_write        [tokens]          one layer's K/V write into the cache
//   lm_head            [rows]            final norm + LM head over the sampled rows
//   sampling           [rows]            sample_token per row (backend.* sampling settings)
//   decode_attention_<layout>   [batch, context]   one layer, every sequence at `context`
//   prefill_attention_<layout>  [chunk, start]     one layer, one chunk after `start` tokens
//   kv_copy            [slots]           one device-to-device KvCopy, every layer
//   swap_copy          [slots]           one device<->host KvCopy, every layer
//
// for <layout> = contiguous and paged<B> for each block size of the grid (paged blocks in a
// shuffled order, as a free list hands them out). Each point: one warm-up call, then `repeats`
// timed calls; the median and the 10th / 90th percentiles are kept. Then it runs, for each
// layout, `fit_steps` whole synthetic steps (random mixes of prefill chunks and decodes within the
// scheduler's limits) through the real model and sampler, for the overhead fit
// (sim/profile_fit.h). Single-threaded (Eigen without OpenMP), like the back end.
#pragma once

#include "core/experiment.h"
#include "core/operator_profile.h"

namespace kvlab {

// REQUIRES: `config` passes the cpu back end's config check. Fills every field of the profile
// but `date`, `commit`, `command` and `overhead` (the caller's).
OperatorProfile profile_cpu_backend(const ExperimentConfig& config, const ProfileGrid& grid);

}  // namespace kvlab
