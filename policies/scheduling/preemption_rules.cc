#include "policies/scheduling/preemption_rules.h"

#include "core/errors.h"
#include "policies/scheduling/group_accounting.h"

namespace kvlab {

namespace {

class FixedMode final : public PreemptionRule {
 public:
  FixedMode(std::string name, PreemptionMode mode) : name_(std::move(name)), mode_(mode) {}
  std::string name() const override { return name_; }
  PreemptionMode mode(const SequenceGroup&) const override { return mode_; }

 private:
  std::string name_;
  PreemptionMode mode_;
};

class AutoMode final : public PreemptionRule {
 public:
  std::string name() const override { return "auto"; }
  PreemptionMode mode(const SequenceGroup& group) const override {
    return batch_seqs(group) > 1 ? PreemptionMode::kSwap : PreemptionMode::kRecompute;
  }
};

class LatestArrival final : public VictimRule {
 public:
  std::string name() const override { return "lifo"; }
  size_t pick(const std::deque<SequenceGroup*>& running, size_t first) const override {
    check_invariant(first < running.size(), "pick_victim: no candidate");
    // Schedulers keep `running` in arrival order, so this is usually the last entry; the scan
    // keeps the rule exact for any order.
    size_t latest = first;
    for (size_t i = first + 1; i < running.size(); ++i) {
      if (arrives_before(*running[latest], *running[i])) latest = i;
    }
    return latest;
  }
};

}  // namespace

PreemptionRuleRegistry& preemption_rules() {
  static PreemptionRuleRegistry registry("preemption mode", "scheduler.preemption");
  return registry;
}

VictimRuleRegistry& victim_rules() {
  static VictimRuleRegistry registry("preemption victim rule", "scheduler.victim");
  return registry;
}

void register_preemption_rules(PreemptionRuleRegistry& registry) {
  registry.add({.name = "recompute",
                .factory = [](const SchedulerConfig&) -> std::unique_ptr<PreemptionRule> {
                  return std::make_unique<FixedMode>("recompute", PreemptionMode::kRecompute);
                },
                .description = "release the victim's KV; prefill its tokens again on return"});
  registry.add({.name = "swap",
                .factory = [](const SchedulerConfig&) -> std::unique_ptr<PreemptionRule> {
                  return std::make_unique<FixedMode>("swap", PreemptionMode::kSwap);
                },
                .description = "move the victim's KV to the host pool and back (recompute "
                               "when the pool is full)"});
  registry.add({.name = "auto",
                .factory = [](const SchedulerConfig&) -> std::unique_ptr<PreemptionRule> {
                  return std::make_unique<AutoMode>();
                },
                .description = "vLLM v0: swap groups that run several sequences, recompute "
                               "the rest"});
}

void register_victim_rules(VictimRuleRegistry& registry) {
  registry.add({.name = "lifo",
                .factory = [](const SchedulerConfig&) -> std::unique_ptr<VictimRule> {
                  return std::make_unique<LatestArrival>();
                },
                .description = "the latest arrival among the running groups (vLLM)"});
}

}  // namespace kvlab
