// CSV records as RFC 4180 writes them, read with libcsv (Debian's libcsv-dev) in strict mode: a
// field may be quoted, and a quoted field may hold commas, doubled quotes ("" for ") and line
// breaks; lines end in LF or CRLF; a UTF-8 byte-order mark before the first line is skipped
// (LineReader). Spaces and tabs around an unquoted field or around the quotes are dropped
// (libcsv's rule). A quote inside an unquoted field, text after a closing quote, or a quoted
// field the file ends inside is a CsvSyntaxError naming the record's line and column: fields
// are never shifted.
//
// Why libcsv, measured on the shipped traces (traces/data, shared/traces; 4,000-34,000 rows,
// g++ -O2, mean of 20 reads, fields only): the old split on ',' took 0.9-7.1 ms a file, libcsv
// 0.55-4.7 ms, fast-cpp-csv-parser (Debian's libfccp-dev, a 2016 snapshot) 0.3-4.2 ms, a
// hand-written splitter 0.2-2.7 ms: parsing is a small part of reading a trace either way.
// libcsv is the one of the packaged parsers that reads quoted line breaks, rejects bad quoting
// in strict mode, and streams: it hands each field over as it ends, so nothing per field is
// kept unless asked for (a 50 MB line of commas costs the line, not 50 million strings);
// fast-cpp-csv-parser fixes the column count at compile time, refuses quoted line breaks and
// allocates 48 MB per open file.
//
// Not thread-safe; one reader per file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "traces/line_reader.h"

namespace kvlab {

class LibCsvParser;

// Malformed quoting in a record: the 0-based column it is in, and what is wrong.
struct CsvSyntaxError {
  size_t column = 0;
  std::string reason;
};

// Receives a record's fields in order: column (0-based) and the field's unquoted text, which
// is valid only during the call.
using CsvFieldSink = std::function<void(size_t column, std::string_view text)>;

// One record read: the line it starts on, how many fields it has, and the syntax error that
// ended it early (then the fields handed over are incomplete: the record is bad as a whole).
struct CsvRecord {
  int64_t line = 0;
  size_t num_fields = 0;
  std::optional<CsvSyntaxError> error;
};

class CsvRecordReader {
 public:
  // Throws InputError naming `path` when it cannot be opened (as LineReader does).
  explicit CsvRecordReader(const std::string& path);
  ~CsvRecordReader();
  CsvRecordReader(const CsvRecordReader&) = delete;
  CsvRecordReader& operator=(const CsvRecordReader&) = delete;

  // Reads the next record, handing its fields to `sink`; false at the end of the file. Blank
  // lines between records are skipped. After a record with an error, reading resumes at the
  // line after the one the error is on.
  bool next(CsvRecord& record, const CsvFieldSink& sink);

  // The last physical line read (a record with quoted line breaks spans several).
  int64_t line_number() const { return lines_.line_number(); }

 private:
  LineReader lines_;
  std::unique_ptr<LibCsvParser> parser_;
  std::string line_;
};

// Parses `line` as one whole record (a header, a first line to detect a format by), handing
// its fields to `sink`; the number of fields, or the error. A quoted field still open at the
// end of the line is an error: a header does not span lines. A blank line has no fields.
struct CsvLineResult {
  size_t num_fields = 0;
  std::optional<CsvSyntaxError> error;
};
CsvLineResult parse_csv_line(std::string_view line, const CsvFieldSink& sink);

// The fields of one line (parse_csv_line collected); throws RowError("column N", reason) for
// malformed quoting. For tests and short lines: readers use a sink and keep what they need.
std::vector<std::string> split_csv_line(std::string_view line);

}  // namespace kvlab
