#include "policies/scheduling/rejection_rules.h"

#include "core/scheduler.h"
#include "policies/scheduling/group_accounting.h"

namespace kvlab {

std::string config_rejection_reason(const SequenceGroup& group, const SchedulingOptions& options) {
  const SchedulerConfig& c = options.config;
  const int64_t total = int64_t{group.spec.prompt_len} + group.spec.output_len;
  if (total > c.max_seq_len) {
    return "prompt (" + std::to_string(group.spec.prompt_len) + ") + output (" +
           std::to_string(group.spec.output_len) + ") = " + std::to_string(total) +
           " tokens exceed max_seq_len " + std::to_string(c.max_seq_len);
  }
  if (group.spec.n > c.max_num_seqs) {
    return "n = " + std::to_string(group.spec.n) + " samples exceed scheduler.max_num_seqs " +
           std::to_string(c.max_num_seqs);
  }
  const int64_t prefill = prefill_tokens(group);
  if (!options.chunked() && prefill > c.max_batched_tokens) {
    return "prefill of " + std::to_string(prefill) +
           " tokens exceeds scheduler.max_batched_tokens " + std::to_string(c.max_batched_tokens) +
           " and chunked prefill is off (scheduler.chunk_size = 0)";
  }
  return "";
}

std::string rejection_reason(const SequenceGroup& group, const SchedulingOptions& options,
                             const KvCacheManager& kv, AllocStatus* admission) {
  std::string reason = config_rejection_reason(group, options);
  AllocStatus answer = AllocStatus::kNever;
  if (reason.empty()) {
    answer = kv.can_admit(group);
    if (answer == AllocStatus::kNever) reason = never_fits_reason(group, kv);
  }
  if (admission) *admission = answer;
  return reason;
}

}  // namespace kvlab
