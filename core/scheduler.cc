#include "core/scheduler.h"

namespace kvlab {

const char* to_string(PreemptionMode m) {
  return m == PreemptionMode::kRecompute ? "recompute" : "swap";
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
