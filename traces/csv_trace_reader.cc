#include "traces/csv_trace_reader.h"

#include <algorithm>
#include <memory>
#include <optional>

#include "core/errors.h"
#include "core/workload.h"
#include "traces/bad_rows.h"
#include "traces/line_reader.h"
#include "traces/numeric_fields.h"
#include "traces/trace_formats.h"
#include "traces/wall_clock_time.h"

namespace kvlab {

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> fields;
  size_t start = 0;
  while (true) {
    const size_t comma = line.find(',', start);
    fields.push_back(line.substr(start, comma == std::string::npos ? comma : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return fields;
}

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
};

std::vector<std::string> header_names(const std::string& line) {
  std::vector<std::string> names;
  for (const auto& field : split_csv_line(line)) names.emplace_back(trim_field(field));
  return names;
}

std::optional<size_t> column_index(const std::vector<std::string>& names,
                                   const std::string& column) {
  auto it = std::find(names.begin(), names.end(), column);
  if (it == names.end()) return std::nullopt;
  return static_cast<size_t>(it - names.begin());
}

class CsvTraceReader : public TraceReader {
 public:
  explicit CsvTraceReader(CsvFormat format) : format_(std::move(format)) {}

  std::string name() const override { return format_.name; }

  bool detects(const std::string& path, const std::string& first_line) const override {
    const auto names = header_names(first_line);
    for (const auto& column : needed_columns()) {
      if (!column_index(names, column)) return false;
    }
    for (const auto& column : format_.absent_columns) {
      if (column_index(names, column)) return false;
    }
    return true;
  }

  TraceData read(const std::string& path, const TraceReadOptions& options) const override {
    LineReader lines(path);
    std::string line;
    if (!lines.next(line) || is_blank(line)) {
      throw InputError(path, 1, "header",
                       "empty file: expected a CSV header naming " + describe_columns());
    }
    const Columns columns = find_columns(path, header_names(line));

    TraceData data;
    data.has_timestamps = format_.clock != Clock::kNone;
    BadRows bad_rows(path, options);
    std::vector<int64_t> wall_ticks;  // kWallClock: per kept row, rebased at the end
    int64_t data_lines = 0;
    while (lines.next(line)) {
      if (is_blank(line)) continue;
      ++data_lines;
      try {
        const auto fields = split_csv_line(line);
        TraceRow row;
        row.line = lines.line_number();
        std::optional<int64_t> ticks;
        if (format_.clock == Clock::kSeconds) {
          row.timestamp_s =
              parse_seconds(field(fields, columns, *columns.time), format_.time_column);
        } else if (format_.clock == Clock::kWallClock) {
          ticks = parse_wall_clock(field(fields, columns, *columns.time));
        }
        row.prompt_len =
            parse_token_count(field(fields, columns, columns.prompt), format_.prompt_column, 1);
        row.output_len =
            parse_token_count(field(fields, columns, columns.output), format_.output_column, 1);
        if (ticks) wall_ticks.push_back(*ticks);
        data.rows.push_back(std::move(row));
      } catch (const RowError& error) {
        bad_rows.report(lines.line_number(), error);
      }
    }
    if (data_lines == 0) {
      throw InputError(path, lines.line_number() + 1, "",
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
    return data;
  }

 private:
  struct Columns {
    size_t prompt = 0;
    size_t output = 0;
    std::optional<size_t> time;
    std::vector<std::string> header;  // every column name, to name a missing field
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

  Columns find_columns(const std::string& path, const std::vector<std::string>& names) const {
    for (const auto& column : needed_columns()) {
      if (!column_index(names, column)) {
        throw InputError(path, 1, column,
                         "column missing from the header (format " + format_.name + " needs " +
                             describe_columns() + ")");
      }
    }
    Columns columns;
    columns.prompt = *column_index(names, format_.prompt_column);
    columns.output = *column_index(names, format_.output_column);
    if (format_.clock != Clock::kNone) columns.time = column_index(names, format_.time_column);
    columns.header = names;
    return columns;
  }

  // The field at `index`; RowError naming the column when the row is too short.
  static const std::string& field(const std::vector<std::string>& fields, const Columns& columns,
                                  size_t index) {
    if (index >= fields.size()) {
      throw RowError(columns.header[index],
                     "missing: the row has " + std::to_string(fields.size()) +
                         " fields, the column is number " + std::to_string(index + 1));
    }
    return fields[index];
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

}  // namespace

void register_csv_trace_readers(TraceReaderRegistry& registry) {
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
