// LineReader: a text trace file read one line at a time, with 1-based line numbers for error
// messages. Opening a path that does not exist, is a directory or cannot be read throws
// InputError naming it. A '\r' before '\n' is dropped (CRLF files) and a UTF-8 byte-order
// mark at the start of the file is skipped, so files saved by spreadsheet tools read the same.
// Not thread-safe; one reader per file.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>

namespace kvlab {

class LineReader {
 public:
  explicit LineReader(const std::string& path);

  // Reads the next line (without its terminator) into `line`; false at end of file.
  bool next(std::string& line);
  // Line number of the line last returned by next(); 0 before the first.
  int64_t line_number() const { return line_number_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ifstream in_;
  int64_t line_number_ = 0;
};

// The whole file as bytes (BOM skipped). Throws InputError naming a missing file.
std::string read_whole_file(const std::string& path);

// The first line of the file ("" when it is empty). Throws InputError naming a missing file.
std::string read_first_line(const std::string& path);

// True when `text` holds only spaces, tabs, '\r' and '\n'.
bool is_blank(std::string_view text);

}  // namespace kvlab
