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

// Why `group` is rejected when the manager `kv` answers kNever to can_admit (it could not
// hold the group even in an empty arena).
std::string never_fits_reason(const SequenceGroup& group, const KvCacheManager& kv);

}  // namespace kvlab
