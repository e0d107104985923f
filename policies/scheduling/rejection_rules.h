// Rejection rules: why a waiting group can never run under a scheduler's settings, as a
// sentence a user can act on. A scheduler rejects such a group instead of leaving it
// waiting forever.
#pragma once

#include <string>

#include "core/kv_cache_manager.h"
#include "core/request.h"
#include "policies/scheduling/scheduling_options.h"

namespace kvlab {

// The first rule `group` breaks, or "" when it could run. Checked in this order:
//  - prompt + output over max_seq_len;
//  - more samples (n) than max_num_seqs;
//  - with chunked prefill off, a prefill (the prompt, or prompt + generated tokens of every
//    sample after a recompute) over max_batched_tokens: no step could take it whole;
//  - the manager's answer `admission` is kNever (`kv` names the manager in the reason).
std::string rejection_reason(const SequenceGroup& group, const SchedulingOptions& options,
                             const KvCacheManager& kv, AllocStatus admission);

// Config-only part of rejection_reason (no manager), for callers that check before asking it.
std::string config_rejection_reason(const SequenceGroup& group, const SchedulingOptions& options);

}  // namespace kvlab
