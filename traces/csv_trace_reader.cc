#include "traces/csv_trace_reader.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string_view>

#include "core/errors.h"
#include "core/suggest.h"
#include "core/workload.h"
#include "traces/bad_rows.h"
#include "traces/csv_records.h"
#include "traces/column_mapping.h"
#include "traces/numeric_fields.h"
#include "traces/read_trace.h"
#include "traces/trace_formats.h"
#include "traces/wall_clock_time.h"

namespace kvlab {

namespace {

enum class Clock { kNone, kSeconds, kWallClock };

struct CsvFormat {
  std::string name;
  std::string prompt_column;
  std::string output_column;
  std::string time_column;  // empty when clock == kNone
  Clock clock = Clock::kNone;
  // Detection: the header must hold every needed column and none of these.
  std::vector<std::string> absent_columns;
  double time_unit_s = 1.0;  // clock == kSeconds: seconds per unit of the time column
  // A row whose output is 0 is dropped by the format's rule (counted under this reason), not
  // bad: BurstGPT logs failed requests with 0 response tokens. Empty: 0 is a bad row.
  std::string zero_output_drop;
};

// The columns of a header that hold the names asked for (the first one, for a repeated name),
// found as the fields go by: nothing is kept per column.
struct HeaderColumns {
  explicit HeaderColumns(std::vector<std::string> names)
      : names(std::move(names)), at(this->names.size()) {}

  void add(size_t column, std::string_view text) {
    const auto name = trim_field(text);
    if (seen.size() < kNamesKept) seen.emplace_back(name);
    for (size_t i = 0; i < names.size(); ++i) {
      if (!at[i] && name == names[i]) at[i] = column;
    }
  }
  std::optional<size_t> find(const std::string& name) const {
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == name) return at[i];
    }
    return std::nullopt;
  }

  // The header's first names, for "did you mean" when a needed column is missing.
  static constexpr size_t kNamesKept = 256;

  std::vector<std::string> names;
  std::vector<std::optional<size_t>> at;
  std::vector<std::string> seen;
};

class CsvTraceReader : public CountingTraceReader {
 public:
  explicit CsvTraceReader(CsvFormat format) : format_(std::move(format)) {}

  std::string name() const override { return format_.name; }

  bool detects(const std::string& path, const std::string& first_line) const override {
    HeaderColumns header = header_columns();
    const auto parsed = parse_csv_line(
        first_line, [&](size_t column, std::string_view text) { header.add(column, text); });
    if (parsed.error) return false;
    for (const auto& column : needed_columns()) {
      if (!header.find(column)) return false;
    }
    for (const auto& column : format_.absent_columns) {
      if (header.find(column)) return false;
    }
    return true;
  }

  TraceReadResult read_counting(const std::string& path,
                                const TraceReadOptions& options) const override {
    CsvRecordReader records(path);
    CsvRecord record;
    HeaderColumns header = header_columns();
    if (!records.next(record,
                      [&](size_t column, std::string_view text) { header.add(column, text); })) {
      throw InputError(path, 1, "header",
                       "empty file: expected a CSV header naming " + describe_columns());
    }
    if (record.error) {
      throw InputError(path, record.line, "header",
                       "malformed header, column " + std::to_string(record.error->column + 1) +
                           ": " + record.error->reason);
    }
    const Columns columns = find_columns(path, record.line, header);

    TraceReadResult result;
    TraceData& data = result.data;
    data.has_timestamps = format_.clock != Clock::kNone;
    int64_t zero_output = 0;
    BadRows bad_rows(path, options);
    std::vector<int64_t> wall_ticks;  // kWallClock: per kept row, rebased at the end
    int64_t data_lines = 0;
    // Only the needed fields are kept, so a row of millions of fields costs nothing per field.
    std::string time_text, prompt_text, output_text;
    const CsvFieldSink keep_needed = [&](size_t column, std::string_view text) {
      if (column == columns.prompt) prompt_text.assign(text);
      if (column == columns.output) output_text.assign(text);
      if (columns.time && column == *columns.time) time_text.assign(text);
    };
    while (records.next(record, keep_needed)) {
      ++data_lines;
      try {
        if (record.error) {
          throw RowError(column_name(columns, record.error->column), record.error->reason);
        }
        TraceRow row;
        row.line = record.line;
        std::optional<int64_t> ticks;
        if (format_.clock == Clock::kSeconds) {
          row.timestamp_s = parse_seconds(
              field(record, *columns.time, format_.time_column, time_text), format_.time_column) *
                            format_.time_unit_s;
        } else if (format_.clock == Clock::kWallClock) {
          ticks = parse_wall_clock(field(record, *columns.time, format_.time_column, time_text));
        }
        row.prompt_len =
            parse_token_count(field(record, columns.prompt, format_.prompt_column, prompt_text),
                              format_.prompt_column, 1);
        row.output_len =
            parse_token_count(field(record, columns.output, format_.output_column, output_text),
                              format_.output_column, format_.zero_output_drop.empty() ? 1 : 0);
        if (row.output_len == 0) {
          ++zero_output;
          continue;
        }
        if (ticks) wall_ticks.push_back(*ticks);
        data.rows.push_back(std::move(row));
      } catch (const RowError& error) {
        bad_rows.report(record.line, error);
      }
    }
    if (data_lines == 0) {
      throw InputError(path, records.line_number() + 1, "",
                       "no data rows after the header (expected " + describe_columns() + ")");
    }
    if (!wall_ticks.empty()) {
      const int64_t earliest = *std::min_element(wall_ticks.begin(), wall_ticks.end());
      for (size_t i = 0; i < data.rows.size(); ++i) {
        data.rows[i].timestamp_s =
            static_cast<double>(wall_ticks[i] - earliest) / static_cast<double>(kTicksPerSecond);
      }
    }
    bad_rows.move_into(data);
    if (!format_.zero_output_drop.empty()) {
      result.dropped.push_back(FormatDrop{format_.zero_output_drop, zero_output});
    }
    return result;
  }

 private:
  struct Columns {
    size_t prompt = 0;
    size_t output = 0;
    std::optional<size_t> time;
  };

  std::vector<std::string> needed_columns() const {
    std::vector<std::string> columns;
    if (format_.clock != Clock::kNone) columns.push_back(format_.time_column);
    columns.push_back(format_.prompt_column);
    columns.push_back(format_.output_column);
    return columns;
  }

  std::string describe_columns() const {
    std::string out;
    for (const auto& column : needed_columns()) out += (out.empty() ? "" : ",") + column;
    return out;
  }

  // The needed columns, then those whose presence rules the format out.
  HeaderColumns header_columns() const {
    auto names = needed_columns();
    names.insert(names.end(), format_.absent_columns.begin(), format_.absent_columns.end());
    return HeaderColumns(std::move(names));
  }

  Columns find_columns(const std::string& path, int64_t line, const HeaderColumns& header) const {
    for (const auto& column : needed_columns()) {
      if (!header.find(column)) {
        const std::string near = did_you_mean(column, header.seen);
        throw InputError(path, line, column,
                         "column missing from the header (" +
                             (near.empty() ? "" : "did you mean '" + near + "'?; ") + "format " +
                             format_.name + " needs " + describe_columns() + ")");
      }
    }
    Columns columns;
    columns.prompt = *header.find(format_.prompt_column);
    columns.output = *header.find(format_.output_column);
    if (format_.clock != Clock::kNone) columns.time = header.find(format_.time_column);
    return columns;
  }

  // The header's name for a needed column, "column N" (1-based) for any other.
  std::string column_name(const Columns& columns, size_t column) const {
    if (column == columns.prompt) return format_.prompt_column;
    if (column == columns.output) return format_.output_column;
    if (columns.time && column == *columns.time) return format_.time_column;
    return "column " + std::to_string(column + 1);
  }

  // The field kept for column `index`; RowError naming the column when the row is too short.
  static const std::string& field(const CsvRecord& record, size_t index, const std::string& name,
                                  const std::string& text) {
    if (index >= record.num_fields) {
      throw RowError(name, "missing: the row has " + std::to_string(record.num_fields) +
                               " fields, the column is number " + std::to_string(index + 1));
    }
    return text;
  }

  int64_t parse_wall_clock(const std::string& text) const {
    const auto trimmed = trim_field(text);
    if (trimmed.empty()) throw RowError(format_.time_column, "empty value, expected a timestamp");
    const auto ticks = parse_wall_clock_ticks(trimmed);
    if (!ticks) {
      throw RowError(format_.time_column, "bad timestamp '" + std::string(trimmed) +
                                              "' (expected YYYY-MM-DD HH:MM:SS.fffffff)");
    }
    return *ticks;
  }

  CsvFormat format_;
};

// "csv": any CSV, its columns named by workload.columns (TraceReadOptions::columns). Never
// detected from the file: `auto` picks it when workload.columns is set (read_trace.h).
class MappedCsvReader : public CountingTraceReader {
 public:
  std::string name() const override { return "csv"; }
  bool detects(const std::string&, const std::string&) const override { return false; }
  TraceReadResult read_counting(const std::string& path,
                                const TraceReadOptions& options) const override {
    const ColumnMapping m = parse_column_mapping(options.columns, options.arrival_unit);
    CsvFormat format{"csv", m.prompt, m.output, m.arrival,
                     m.arrival.empty() ? Clock::kNone : Clock::kSeconds, {}};
    format.time_unit_s = m.arrival_unit_s;
    return CsvTraceReader(std::move(format)).read_counting(path, options);
  }
};

}  // namespace

void register_csv_trace_readers(TraceReaderRegistry& registry) {
  registry.add(
      {.name = "burstgpt-csv",
       .factory = [](const TraceReaderConfig&) -> std::unique_ptr<TraceReader> {
         CsvFormat format{"burstgpt-csv", "Request tokens", "Response tokens", "Timestamp",
                          Clock::kSeconds, {}};
         format.zero_output_drop = "failed requests: Response tokens 0";
         return std::make_unique<CsvTraceReader>(std::move(format));
       },
       .description = "BurstGPT CSV: Timestamp (seconds from the trace's start), Model, Request "
                      "tokens, Response tokens, Total tokens, Log Type; failed requests (0 "
                      "response tokens) dropped and counted"});
  registry.add(
      {.name = "csv",
       .factory = [](const TraceReaderConfig&) -> std::unique_ptr<TraceReader> {
         return std::make_unique<MappedCsvReader>();
       },
       .description = "any CSV with a header: columns named by workload.columns "
                      "(arrival:NAME, prompt:NAME, output:NAME)"});
  registry.add({.name = "length-csv",
                .factory = [](const TraceReaderConfig&) -> std::unique_ptr<TraceReader> {
                  return std::make_unique<CsvTraceReader>(CsvFormat{"length-csv",
                                                                    "num_prefill_tokens",
                                                                    "num_decode_tokens",
                                                                    "",
                                                                    Clock::kNone,
                                                                    {"arrived_at"}});
                },
                .description =
                    "CSV with num_prefill_tokens,num_decode_tokens (other columns ignored); "
                    "no timestamps (Vidur/etalon length traces)"});
  registry.add(
      {.name = "timed-csv",
       .factory = [](const TraceReaderConfig&) -> std::unique_ptr<TraceReader> {
         return std::make_unique<CsvTraceReader>(CsvFormat{"timed-csv",
                                                           "num_prefill_tokens",
                                                           "num_decode_tokens",
                                                           "arrived_at",
                                                           Clock::kSeconds,
                                                           {}});
       },
       .description = "CSV with arrived_at (seconds),num_prefill_tokens,num_decode_tokens"});
  registry.add(
      {.name = "azure-csv",
       .factory = [](const TraceReaderConfig&) -> std::unique_ptr<TraceReader> {
         return std::make_unique<CsvTraceReader>(CsvFormat{
             "azure-csv", "ContextTokens", "GeneratedTokens", "TIMESTAMP", Clock::kWallClock, {}});
       },
       .description = "Azure LLM inference trace CSV: TIMESTAMP (wall clock),ContextTokens,"
                      "GeneratedTokens"});
}

}  // namespace kvlab
