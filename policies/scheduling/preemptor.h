// Preemptor: the one preemption rule both batching policies use when a running group cannot
// get the memory its next step needs.
//
// Victim and mode come from the configured rules (policies/scheduling/preemption_rules.h).
// Preemption is all-or-nothing per group:
//  - recompute: every unfinished sequence is released, num_computed reset to 0, statuses set
//    to waiting, and the group goes to the front of `waiting`, after the recompute-preempted
//    groups already there that arrived before it (so they stay in arrival order, ahead of
//    every new arrival);
//  - swap: when the manager's can_swap_out is not kOk the group is recomputed instead (a
//    swap fallback, counted); otherwise its KvCopy list is appended to output.swap_out, its
//    statuses become swapped and it is appended to `swapped`.
// Every preemption is recorded in output.preempted with the mode actually used, and in the
// group's counters (num_preemptions, num_recomputes or num_swaps, swapped_slots).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>

#include "core/kv_cache_manager.h"
#include "core/scheduler.h"
#include "policies/scheduling/preemption_rules.h"

namespace kvlab {

class Preemptor {
 public:
  // REQUIRES: both rules non-null.
  Preemptor(std::shared_ptr<const PreemptionRule> mode, std::shared_ptr<const VictimRule> victim)
      : mode_(std::move(mode)), victim_(std::move(victim)) {}

  // Index in `running` of the group to preempt, chosen among running[first..end).
  // REQUIRES: first < running.size().
  size_t pick_victim(const std::deque<SequenceGroup*>& running, size_t first) const;

  // The mode the rule asks for on `group` (before any swap fallback).
  PreemptionMode preferred_mode(const SequenceGroup& group) const;

  // Preempts running[index]: removes it from `running` and recomputes or swaps it as above.
  // Returns the mode used. REQUIRES: index < queues.running.size().
  PreemptionMode preempt(SchedulerQueues& queues, size_t index, KvCacheManager& kv,
                         SchedulerOutput& output);

  // Swap preemptions that fell back to recompute because the host pool was full, so far.
  int64_t num_swap_fallbacks() const { return num_swap_fallbacks_; }

 private:
  void recompute(SchedulerQueues& queues, SequenceGroup& group, KvCacheManager& kv);
  void swap_out(SchedulerQueues& queues, SequenceGroup& group, KvCacheManager& kv,
                SchedulerOutput& output);

  std::shared_ptr<const PreemptionRule> mode_;
  std::shared_ptr<const VictimRule> victim_;
  int64_t num_swap_fallbacks_ = 0;
};

}  // namespace kvlab
