// apply_step_result: Scheduler::update_from_output (core/scheduler.h), written once for every
// batching policy. A scheduler's update_from_output calls it and may then look at what
// changed (StepUpdate) to keep its own books.
//
// It applies the plan in plan order (prefill chunks, then decodes), reading the token ids in
// the draw order of core/sampling_rows.h, and leaves `running` in its order minus the groups
// that finished. The memory manager sees, in that order, a fork per new sample and a release
// per finished sequence, nothing else.
#pragma once

#include "core/kv_cache_manager.h"
#include "core/scheduler.h"
#include "core/step_result.h"

namespace kvlab {

// REQUIRES and effects: those of Scheduler::update_from_output.
StepUpdate apply_step_result(const SchedulerOutput& plan, const StepResult& result,
                             SchedulerQueues& queues, KvCacheManager& kv);

}  // namespace kvlab
