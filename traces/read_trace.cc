#include "traces/read_trace.h"

#include "core/errors.h"
#include "traces/line_reader.h"

namespace kvlab {

int64_t TraceReadResult::num_dropped() const {
  int64_t total = 0;
  for (const auto& drop : dropped) total += drop.count;
  return total;
}

std::string detect_trace_format(const std::string& path) {
  const std::string first_line = read_first_line(path);  // throws for a missing file
  std::vector<std::string> matches;
  for (const auto& name : trace_readers().names()) {
    if (trace_readers().create(name, {})->detects(path, first_line)) matches.push_back(name);
  }
  if (matches.size() == 1) return matches.front();
  std::string shown = first_line.size() > 80 ? first_line.substr(0, 80) + "..." : first_line;
  if (matches.empty()) {
    throw InputError(path, 1, "workload.format",
                     "cannot detect the trace format from the file name and first line '" + shown +
                         "'; set workload.format (kvlab list formats)");
  }
  std::string names;
  for (const auto& name : matches) names += (names.empty() ? "" : ", ") + name;
  throw InputError(path, 1, "workload.format",
                   "trace format is ambiguous (" + names + " all accept it); set workload.format");
}

TraceReadResult read_trace(const std::string& path, const std::string& format,
                           const TraceReadOptions& options) {
  const std::string resolved = format == "auto" ? detect_trace_format(path) : format;
  if (!trace_readers().contains(resolved)) {
    throw InputError("", 0, "workload.format", trace_readers().unknown_message(resolved));
  }
  auto reader = trace_readers().create(resolved, {});
  if (const auto* counting = dynamic_cast<const CountingTraceReader*>(reader.get())) {
    TraceReadResult result = counting->read_counting(path, options);
    result.format = resolved;
    return result;
  }
  TraceReadResult result;
  result.format = resolved;
  result.data = reader->read(path, options);
  return result;
}

}  // namespace kvlab
