#include "traces/bad_rows.h"

#include "core/errors.h"
#include "traces/line_reader.h"

namespace kvlab {

void BadRows::report(int64_t line, const std::string& field, const std::string& what) {
  InputError error(path_, static_cast<long>(line), field, what);
  if (!skip_) throw error;
  ++count_;
  if (messages_.size() < kMaxMessages) messages_.push_back(error.what());
}

void BadRows::move_into(TraceData& data) {
  data.bad_rows_skipped += count_;
  for (auto& message : messages_) {
    if (data.bad_row_messages.size() < kMaxMessages) data.bad_row_messages.push_back(message);
  }
  count_ = 0;
  messages_.clear();
}

TraceData read_row_per_line(const std::string& path, const TraceReadOptions& options,
                            const std::function<TraceRow(const std::string&, int64_t)>& parse_line,
                            const std::string& empty_field, const std::string& empty_message) {
  LineReader lines(path);
  TraceData data;
  BadRows bad_rows(path, options);
  std::string line;
  int64_t data_lines = 0;
  while (lines.next(line)) {
    if (is_blank(line)) continue;
    ++data_lines;
    try {
      data.rows.push_back(parse_line(line, lines.line_number()));
    } catch (const RowError& error) {
      bad_rows.report(lines.line_number(), error);
    }
  }
  if (data_lines == 0) throw InputError(path, 1, empty_field, empty_message);
  bad_rows.move_into(data);
  return data;
}

}  // namespace kvlab
