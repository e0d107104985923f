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

namespace {

bool is_mapped(const std::string& format) { return format == "csv" || format == "jsonl"; }

// The generic reader for a file whose columns workload.columns names: jsonl for a .jsonl file
// or one whose first line opens a JSON object, csv otherwise.
std::string mapped_format(const std::string& path) {
  if (path.size() >= 6 && path.compare(path.size() - 6, 6, ".jsonl") == 0) return "jsonl";
  const std::string first = read_first_line(path);
  const auto start = first.find_first_not_of(" \t\xEF\xBB\xBF");
  return start != std::string::npos && first[start] == '{' ? "jsonl" : "csv";
}

}  // namespace

TraceReadResult read_trace(const std::string& path, const std::string& format,
                           const TraceReadOptions& options) {
  const bool mapped = !options.columns.empty();
  if (mapped && format != "auto" && !is_mapped(format)) {
    throw InputError("", 0, "workload.columns",
                     "names the columns of the generic formats csv and jsonl; format '" + format +
                         "' has its own columns (leave workload.columns empty, or set "
                         "workload.format = auto, csv or jsonl)");
  }
  if (!mapped && is_mapped(format)) {
    throw InputError("", 0, "workload.columns",
                     "format '" + format +
                         "' needs workload.columns (e.g. 'arrival:Timestamp, prompt:Request "
                         "tokens, output:Response tokens')");
  }
  std::string resolved = format;
  if (format == "auto") resolved = mapped ? mapped_format(path) : detect_trace_format(path);
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
