// The process-wide registries that live in core and are filled by other folders.
#include "core/executor.h"
#include "core/workload.h"

namespace kvlab {

ExecutorRegistry& executors() {
  static ExecutorRegistry registry("back end");
  return registry;
}

std::map<std::string, KvCapacityProbe>& kv_capacity_probes() {
  static std::map<std::string, KvCapacityProbe> probes;
  return probes;
}

TraceReaderRegistry& trace_readers() {
  static TraceReaderRegistry registry("trace format");
  return registry;
}

}  // namespace kvlab
