#include "traces/mooncake_jsonl_reader.h"

#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/workload.h"
#include "traces/bad_rows.h"
#include "traces/json_fields.h"
#include "traces/line_reader.h"
#include "traces/numeric_fields.h"
#include "traces/trace_formats.h"

namespace kvlab {

using nlohmann::json;

TraceRow parse_mooncake_line(const std::string& line, int64_t line_number) {
  json object;
  try {
    object = parse_json_row(line);
  } catch (const json::parse_error& error) {
    throw RowError("json", "malformed JSON: " + json_error_text(error));
  } catch (const json::out_of_range&) {
    // A number beyond double's range (1e400), in any field: a bad row, not an internal error.
    throw RowError("json", "a number out of range (beyond +-1.8e308)");
  }
  if (!object.is_object()) throw RowError("json", "expected a JSON object per line");
  TraceRow row;
  row.line = line_number;
  const double timestamp_ms = json_number(object, "timestamp");
  if (timestamp_ms < 0) {
    throw RowError("timestamp", "negative time " + object.at("timestamp").dump() + " ms");
  }
  row.timestamp_s = timestamp_ms / 1000.0;
  row.prompt_len = check_token_count(json_number(object, "input_length"), "input_length", 1);
  row.output_len = check_token_count(json_number(object, "output_length"), "output_length", 1);
  row.hash_ids = json_hash_ids(object, "hash_ids");
  return row;
}

namespace {

class MooncakeJsonlReader : public TraceReader {
 public:
  std::string name() const override { return "mooncake-jsonl"; }

  bool detects(const std::string& path, const std::string& first_line) const override {
    if (path.size() >= 6 && path.compare(path.size() - 6, 6, ".jsonl") == 0) return true;
    const auto start = first_line.find_first_not_of(" \t");
    return start != std::string::npos && first_line[start] == '{' &&
           first_line.find("\"input_length\"") != std::string::npos;
  }

  TraceData read(const std::string& path, const TraceReadOptions& options) const override {
    TraceData data = read_row_per_line(path, options, parse_mooncake_line, "json",
                                       "empty file: expected one JSON object per line with "
                                       "timestamp, input_length, output_length");
    data.has_timestamps = true;
    return data;
  }
};

}  // namespace

void register_mooncake_jsonl_reader(TraceReaderRegistry& registry) {
  registry.add(
      {.name = "mooncake-jsonl",
       .factory = [](const TraceReaderConfig&) -> std::unique_ptr<TraceReader> {
         return std::make_unique<MooncakeJsonlReader>();
       },
       .description = "Mooncake JSONL: timestamp (ms), input_length, output_length, hash_ids"});
}

}  // namespace kvlab
