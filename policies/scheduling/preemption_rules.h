// Preemption rules, each a policy found by name: how a victim is preempted
// (scheduler.preemption: recompute | swap | auto) and which running group is the victim
// (scheduler.victim: lifo). Both batching policies take them through SchedulingOptions; the
// Preemptor applies them. A new rule is one class and one entry in its registration function.
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <string>

#include "core/registry.h"
#include "core/request.h"
#include "core/scheduler.h"

namespace kvlab {

// How a victim group is preempted (before the swap fallback: a swap that finds the host pool
// full recomputes instead). Stateless; mode() is const.
class PreemptionRule {
 public:
  virtual ~PreemptionRule() = default;
  virtual std::string name() const = 0;
  virtual PreemptionMode mode(const SequenceGroup& group) const = 0;
};

// Which running group is preempted. Stateless; pick() is const.
class VictimRule {
 public:
  virtual ~VictimRule() = default;
  virtual std::string name() const = 0;
  // Index of the victim among running[first..end). REQUIRES: first < running.size().
  virtual size_t pick(const std::deque<SequenceGroup*>& running, size_t first) const = 0;
};

using PreemptionRuleRegistry = Registry<PreemptionRule, SchedulerConfig>;
using VictimRuleRegistry = Registry<VictimRule, SchedulerConfig>;
// By scheduler.preemption and scheduler.victim; filled by app/builtins.cc.
PreemptionRuleRegistry& preemption_rules();
VictimRuleRegistry& victim_rules();

// recompute, swap, auto (recompute a group that runs one sequence, swap one that runs several:
// recomputing n samples costs n prefills, swapping them one copy).
void register_preemption_rules(PreemptionRuleRegistry& registry);
// lifo (the latest arrival first, vLLM).
void register_victim_rules(VictimRuleRegistry& registry);

}  // namespace kvlab
