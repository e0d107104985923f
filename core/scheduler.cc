#include "core/scheduler.h"

namespace kvlab {

const char* to_string(PreemptionMode m) {
  return m == PreemptionMode::kRecompute ? "recompute" : "swap";
}

std::string never_fits_reason(const SequenceGroup& group, const KvCacheManager& kv) {
  return "memory manager " + kv.name() + " can never hold it (prompt " +
         std::to_string(group.spec.prompt_len) + " + output " +
         std::to_string(group.spec.output_len) + " tokens, n = " + std::to_string(group.spec.n) +
         ", capacity " + std::to_string(kv.capacity_slots()) + " slots)";
}

std::string Scheduler::rejection_reason(const SequenceGroup& group, const KvCacheManager& kv) const {
  return kv.can_admit(group) == AllocStatus::kNever ? never_fits_reason(group, kv) : "";
}

void SchedulerOutput::clear() {
  prefills.clear();
  decodes.clear();
  preempted.clear();
  rejected.clear();
  swap_out.clear();
  swap_in.clear();
  copies.clear();
  num_prefill_tokens = 0;
  num_decode_tokens = 0;
}

}  // namespace kvlab
