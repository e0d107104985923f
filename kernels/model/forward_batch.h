// From a scheduler's plan to the model's batch: one ForwardEntry per prefill chunk (in plan
// order), then one per decode, each with its sequence's layout from the manager. This is the
// order StepResult::token_ids uses, so logits row i belongs to the i-th sampling entry.
#pragma once

#include <functional>
#include <vector>

#include "core/kv_cache_manager.h"
#include "core/scheduler.h"
#include "kernels/model/decoder_model.h"

namespace kvlab {

// REQUIRES (checked): every scheduled sequence carries its token ids (Sequence::token_ids,
// num_tokens() of them); a prefill chunk lies within them; a decode has exactly one pending
// token; `kv` holds device memory for each of them (the scheduler's contract).
std::vector<ForwardEntry> forward_entries(const SchedulerOutput& plan, const KvCacheManager& kv);
// The same, with each sequence's layout from `layout_of` instead of the manager's layout() (a
// back end that mirrors the manager's memory into its own layout: kernels/vmm_kv_arena.h).
std::vector<ForwardEntry> forward_entries(const SchedulerOutput& plan,
                                          const std::function<KvLayout(const Sequence&)>& layout_of);

}  // namespace kvlab
