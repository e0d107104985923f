// Malformed trace rows: how a reader reports them. A row parser throws RowError (which
// field, what is wrong); the reader's loop catches it and hands it to BadRows together with
// the line number. BadRows then either throws the InputError at FILE:LINE, "FILE:LINE: field
// 'F': WHAT" (the default) or, with TraceReadOptions::skip_bad_rows, counts the row, keeps the
// first kMaxMessages messages for the user, and lets the reader go on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/workload.h"

namespace kvlab {

// One malformed field of the row being parsed: an InputError with a field and a reason but no
// file or line, which BadRows adds.
class RowError : public InputError {
 public:
  RowError(const std::string& field, const std::string& reason)
      : InputError("", 0, field, reason) {}
};

class BadRows {
 public:
  static constexpr size_t kMaxMessages = 10;

  BadRows(std::string path, const TraceReadOptions& options)
      : path_(std::move(path)), skip_(options.skip_bad_rows) {}

  // Throws InputError(path, line, field, what) unless skipping bad rows; otherwise counts it.
  void report(int64_t line, const std::string& field, const std::string& what);
  void report(int64_t line, const RowError& error) { report(line, error.field(), error.reason()); }

  int64_t count() const { return count_; }
  // Moves the count and messages into `data`.
  void move_into(TraceData& data);

 private:
  std::string path_;
  bool skip_;
  int64_t count_ = 0;
  std::vector<std::string> messages_;
};

// The loop of a reader with one row per line (JSONL): every non-blank line of `path` parsed by
// `parse_line(line, line_number)`, whose RowError goes to BadRows. A file without a non-blank
// line is an InputError at line 1 naming field `empty_field`, saying `empty_message`.
TraceData read_row_per_line(const std::string& path, const TraceReadOptions& options,
                            const std::function<TraceRow(const std::string&, int64_t)>& parse_line,
                            const std::string& empty_field, const std::string& empty_message);

}  // namespace kvlab
