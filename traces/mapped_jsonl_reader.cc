// "jsonl": one JSON object per line, its keys named by workload.columns (column_mapping.h):
// numbers, the arrival in workload.arrival_unit, the lengths whole token counts >= 1. Blank
// lines are skipped; a malformed line is a bad row naming the key (bad_rows.h). Never detected
// from the file: `auto` picks it when workload.columns is set and the file is JSONL.
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/suggest.h"
#include "core/workload.h"
#include "traces/bad_rows.h"
#include "traces/column_mapping.h"
#include "traces/json_fields.h"
#include "traces/line_reader.h"
#include "traces/numeric_fields.h"
#include "traces/trace_formats.h"

namespace kvlab {

namespace {

using nlohmann::json;

TraceRow parse_mapped_line(const std::string& line, int64_t line_number, const ColumnMapping& m) {
  json object;
  try {
    object = parse_json_row(line);
  } catch (const json::parse_error& error) {
    throw RowError("json", "malformed JSON: " + json_error_text(error));
  } catch (const json::out_of_range&) {
    throw RowError("json", "a number out of range (beyond +-1.8e308)");
  }
  if (!object.is_object()) throw RowError("json", "expected a JSON object per line");
  // A mapped key the object lacks is most likely misspelled in workload.columns: name the
  // object's closest key.
  for (const std::string* key : {&m.arrival, &m.prompt, &m.output}) {
    if (key->empty() || object.contains(*key)) continue;
    std::vector<std::string> keys;
    for (const auto& item : object.items()) keys.push_back(item.key());
    const std::string near = did_you_mean(*key, keys);
    throw RowError(*key, "missing" + (near.empty() ? "" : " (did you mean '" + near + "'?)"));
  }
  TraceRow row;
  row.line = line_number;
  if (!m.arrival.empty()) {
    const double t = json_number(object, m.arrival);
    if (t < 0) throw RowError(m.arrival, "negative time " + object.at(m.arrival).dump());
    row.timestamp_s = t * m.arrival_unit_s;
  }
  row.prompt_len = check_token_count(json_number(object, m.prompt), m.prompt, 1);
  row.output_len = check_token_count(json_number(object, m.output), m.output, 1);
  return row;
}

class MappedJsonlReader : public TraceReader {
 public:
  std::string name() const override { return "jsonl"; }
  bool detects(const std::string&, const std::string&) const override { return false; }

  TraceData read(const std::string& path, const TraceReadOptions& options) const override {
    const ColumnMapping m = parse_column_mapping(options.columns, options.arrival_unit);
    TraceData data = read_row_per_line(
        path, options,
        [&m](const std::string& line, int64_t number) { return parse_mapped_line(line, number, m); },
        "json",
        "empty file: expected one JSON object per line with the keys of workload.columns");
    data.has_timestamps = !m.arrival.empty();
    return data;
  }
};

}  // namespace

void register_mapped_jsonl_reader(TraceReaderRegistry& registry) {
  registry.add({.name = "jsonl",
                .factory = [](const TraceReaderConfig&) -> std::unique_ptr<TraceReader> {
                  return std::make_unique<MappedJsonlReader>();
                },
                .description = "any JSONL (one object per line): keys named by workload.columns "
                               "(arrival:KEY, prompt:KEY, output:KEY)"});
}

}  // namespace kvlab
