// The batching policies (scheduler.batching), each registered by its function here: continuous
// (iteration-level, with prefill-first or chunked prefill) and static (request-level). Both
// read scheduling_keys() (policies/scheduling/scheduling_options.h) and preempt through the
// rules of policies/scheduling/preemption_rules.h.
#pragma once

#include "core/scheduler.h"

namespace kvlab {

void register_continuous_scheduler(SchedulerRegistry& registry);
void register_static_scheduler(SchedulerRegistry& registry);

}  // namespace kvlab
