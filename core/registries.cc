// The process-wide registries that live in core and are filled by other folders.
#include "core/executor.h"
#include "core/workload.h"

namespace kvlab {

ExecutorRegistry& executors() {
  static ExecutorRegistry registry("back end");
  return registry;
}

TraceReaderRegistry& trace_readers() {
  static TraceReaderRegistry registry("trace format");
  return registry;
}

}  // namespace kvlab
