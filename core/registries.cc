// The process-wide registries. They start empty: the application registers every built-in
// entry explicitly (app/builtins.cc); tests and programs may add their own.
#include "core/cost_model.h"
#include "core/executor.h"
#include "core/kv_cache_manager.h"
#include "core/router.h"
#include "core/scheduler.h"
#include "core/workload.h"

namespace kvlab {

MemoryPolicyRegistry& memory_policies() {
  static MemoryPolicyRegistry registry("memory policy", "memory.policy");
  return registry;
}

SchedulerRegistry& schedulers() {
  static SchedulerRegistry registry("scheduler (batching)", "scheduler.batching");
  return registry;
}

ExecutorRegistry& executors() {
  static ExecutorRegistry registry("back end", "backend.kind");
  return registry;
}

CostModelRegistry& cost_models() {
  static CostModelRegistry registry("cost model", "backend.cost_model");
  return registry;
}

RouterRegistry& routers() {
  static RouterRegistry registry("router", "cluster.router");
  return registry;
}

TraceReaderRegistry& trace_readers() {
  static TraceReaderRegistry registry("trace format");  // no selector: "auto" picks by content
  return registry;
}

}  // namespace kvlab
