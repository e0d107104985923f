// SchedulingOptions: a SchedulerConfig checked once, in a scheduler's factory, with its named
// choices (preemption mode, victim rule) created from their registries
// (policies/scheduling/preemption_rules.h), so no step parses a string.
//
// The keys both batching policies read are declared once, by scheduling_keys(), and listed in
// each policy's registry entry.
#pragma once

#include <memory>
#include <vector>

#include "core/config_keys.h"
#include "core/scheduler.h"
#include "policies/scheduling/preemption_rules.h"

namespace kvlab {

struct SchedulingOptions {
  SchedulerConfig config;
  int32_t chunk_size = 0;  // scheduler.chunk_size: > 0 chunked prefill
  std::shared_ptr<const PreemptionRule> preemption;
  std::shared_ptr<const VictimRule> victim;
  bool chunked() const { return chunk_size > 0; }
};

// scheduler.max_num_seqs, max_batched_tokens, chunk_size, preemption, victim.
std::vector<KeySpec> scheduling_keys();

// Validates `config` (its limits and the keys of scheduling_keys() in config.settings).
// Throws InputError naming the key (scheduler.preemption, scheduler.max_batched_tokens, ...)
// with where its value came from.
SchedulingOptions make_scheduling_options(const SchedulerConfig& config);

}  // namespace kvlab
