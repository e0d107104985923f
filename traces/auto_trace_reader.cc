// "auto": not a format but a dispatcher. It picks the one registered format whose detects()
// accepts the file (.jsonl -> mooncake-jsonl, .json or a first line starting with '[' ->
// sharegpt-json, CSV headers by their column names) and reads with it. It never detects
// itself, so detect_trace_format cannot pick it.
#include <memory>

#include "core/workload.h"
#include "traces/read_trace.h"
#include "traces/trace_formats.h"

namespace kvlab {

namespace {

class AutoTraceReader : public CountingTraceReader {
 public:
  std::string name() const override { return "auto"; }
  bool detects(const std::string&, const std::string&) const override { return false; }
  TraceReadResult read_counting(const std::string& path,
                                const TraceReadOptions& options) const override {
    return read_trace(path, detect_trace_format(path), options);
  }
};

}  // namespace

void register_auto_trace_reader(TraceReaderRegistry& registry) {
  registry.add({.name = "auto",
                .factory = [](const TraceReaderConfig&) -> std::unique_ptr<TraceReader> {
                  return std::make_unique<AutoTraceReader>();
                },
                .description = "detect the format from the file extension and header"});
}

}  // namespace kvlab
