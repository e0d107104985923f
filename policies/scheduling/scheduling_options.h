// SchedulingOptions: a SchedulerConfig checked once, in a scheduler's factory, with its named
// choices (preemption mode, victim rule) turned into enums, so no step parses a string.
//
// The valid names live here, one list each, so the error for a mistyped one can list them.
#pragma once

#include <string>
#include <vector>

#include "core/scheduler.h"

namespace kvlab {

// How a victim group is preempted. kAuto: recompute a group that runs one sequence, swap one
// that runs several (recomputing n samples costs n prefills; swapping them costs one copy).
enum class PreemptionSetting { kRecompute, kSwap, kAuto };
// Which running group is preempted. kLifo: the latest arrival first (vLLM).
enum class VictimRule { kLifo };

struct SchedulingOptions {
  SchedulerConfig config;
  PreemptionSetting preemption = PreemptionSetting::kRecompute;
  VictimRule victim = VictimRule::kLifo;
  bool chunked() const { return config.chunk_size > 0; }
};

const std::vector<std::string>& preemption_setting_names();  // recompute, swap, auto
const std::vector<std::string>& victim_rule_names();         // lifo

// Validates `config` for the scheduler registered as `batching`. Throws InputError naming the
// field (scheduler.preemption, scheduler.victim, scheduler.max_num_seqs, ...) and, for names,
// listing the valid ones.
SchedulingOptions make_scheduling_options(const SchedulerConfig& config,
                                          const std::string& batching);

}  // namespace kvlab
