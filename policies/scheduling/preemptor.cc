#include "policies/scheduling/preemptor.h"

#include "core/errors.h"
#include "policies/scheduling/group_accounting.h"

namespace kvlab {

size_t Preemptor::pick_victim(const std::deque<SequenceGroup*>& running, size_t first) const {
  check_invariant(first < running.size(), "pick_victim: no candidate");
  return victim_->pick(running, first);
}

PreemptionMode Preemptor::preferred_mode(const SequenceGroup& group) const {
  return mode_->mode(group);
}

PreemptionMode Preemptor::preempt(SchedulerQueues& queues, size_t index, KvCacheManager& kv,
                                  SchedulerOutput& output) {
  check_invariant(index < queues.running.size(), "preempt: index outside the running queue");
  SequenceGroup& group = *queues.running[index];
  queues.running.erase(queues.running.begin() + static_cast<std::ptrdiff_t>(index));

  PreemptionMode mode = preferred_mode(group);
  if (mode == PreemptionMode::kSwap && kv.can_swap_out(group) != AllocStatus::kOk) {
    mode = PreemptionMode::kRecompute;
    ++num_swap_fallbacks_;
  }
  if (mode == PreemptionMode::kSwap) {
    swap_out(queues, group, kv, output);
  } else {
    recompute(queues, group, kv);
  }
  group.num_preemptions += 1;
  output.preempted.push_back(Preemption{&group, mode});
  return mode;
}

void Preemptor::recompute(SchedulerQueues& queues, SequenceGroup& group, KvCacheManager& kv) {
  for (Sequence& s : group.seqs) {
    if (s.is_finished()) continue;  // update_from_output released it when it finished
    kv.release(s);
    s.num_computed = 0;
  }
  set_group_status(group, GroupStatus::kWaiting);
  group.num_recomputes += 1;
  // Skip the recompute-preempted groups at the front that arrived earlier; new arrivals
  // (never preempted) start where they end.
  auto at = queues.waiting.begin();
  while (at != queues.waiting.end() && (*at)->num_preemptions > 0 && arrives_before(**at, group)) {
    ++at;
  }
  queues.waiting.insert(at, &group);
}

void Preemptor::swap_out(SchedulerQueues& queues, SequenceGroup& group, KvCacheManager& kv,
                         SchedulerOutput& output) {
  std::vector<KvCopy> copies = kv.swap_out(group);
  group.swapped_slots += total_slots(copies);
  output.swap_out.insert(output.swap_out.end(), copies.begin(), copies.end());
  set_group_status(group, GroupStatus::kSwapped);
  group.num_swaps += 1;
  queues.swapped.push_back(&group);
}

}  // namespace kvlab
