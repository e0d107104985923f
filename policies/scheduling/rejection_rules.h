// Rejection rules: why a waiting group can never run under a scheduler's settings, as a
// sentence a user can act on. A scheduler rejects such a group instead of leaving it
// waiting forever.
#pragma once

#include <string>

#include "core/kv_cache_manager.h"
#include "core/request.h"
#include "policies/scheduling/scheduling_options.h"

namespace kvlab {

// The first scheduler rule `group` breaks, or "" when it breaks none. In this order:
//  - prompt + output over max_seq_len;
//  - more samples (n) than max_num_seqs;
//  - with chunked prefill off, a prefill (the prompt, or prompt + generated tokens of every
//    sample after a recompute) over max_batched_tokens: no step could take it whole.
std::string config_rejection_reason(const SequenceGroup& group, const SchedulingOptions& options);

// Why a scheduler with `options` rejects the waiting `group` at the head of the queue, or ""
// when it does not: config_rejection_reason, then the manager's kNever (never_fits_reason of
// core/scheduler.h). `admission` (may be null) receives can_admit's answer, kNever when a
// scheduler rule fired first (the manager is then not asked).
std::string rejection_reason(const SequenceGroup& group, const SchedulingOptions& options,
                             const KvCacheManager& kv, AllocStatus* admission = nullptr);

}  // namespace kvlab
