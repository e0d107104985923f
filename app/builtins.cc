#include "app/builtins.h"

#include <mutex>

#include "app/experiment_keys.h"
#include "core/cost_model.h"
#include "core/executor.h"
#include "core/kv_cache_manager.h"
#include "core/scheduler.h"
#include "core/workload.h"
#include "kernels/cpu_executor.h"
#include "policies/eviction/eviction.h"
#include "policies/memory/contiguous.h"
#include "policies/memory/paged.h"
#include "policies/memory/virtual.h"
#include "policies/routing/routers.h"
#include "policies/scheduling/preemption_rules.h"
#include "policies/scheduling/schedulers.h"
#include "sim/profiled_cost_model.h"
#include "sim/roofline_cost_model.h"
#include "sim/sim_executor.h"
#include "traces/trace_formats.h"
#ifdef KVLAB_WITH_CUDA
#include "kernels/cuda/cuda_executor.h"
#endif

namespace kvlab {

void register_builtins() {
  static std::once_flag once;
  std::call_once(once, [] {
    // The keys that belong to no single policy (workload, model, hardware, output, and the
    // keys that choose a policy).
    for (const KeySpec& key : experiment_keys()) config_keys().add(key, "application");

    register_eviction_policies(eviction_policies());
    register_paged(memory_policies());
    register_contiguous(memory_policies());
    register_virtual(memory_policies());

    register_preemption_rules(preemption_rules());
    register_victim_rules(victim_rules());
    register_continuous_scheduler(schedulers());
    register_static_scheduler(schedulers());
    register_routers(routers());

    register_roofline_cost_model(cost_models());
    register_profiled_cost_model(cost_models());
    register_sim_executor(executors());
    register_cpu_executor(executors());
#ifdef KVLAB_WITH_CUDA
    cuda::register_cuda_executor(executors());
#endif

    register_csv_trace_readers(trace_readers());
    register_mooncake_jsonl_reader(trace_readers());
    register_mapped_jsonl_reader(trace_readers());
    register_sharegpt_json_readers(trace_readers());
    register_auto_trace_reader(trace_readers());
  });
}

}  // namespace kvlab
