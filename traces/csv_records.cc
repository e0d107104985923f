#include "traces/csv_records.h"

#include <csv.h>

#include <new>

#include "traces/bad_rows.h"

namespace kvlab {

namespace {

constexpr char kQuotingRule[] =
    " (RFC 4180: a field holding a '\"', a ',' or a line break is quoted whole, each '\"' inside "
    "it doubled)";

// Only '\n' ends a record: LineReader drops the '\r' of a CRLF, and a lone '\r' inside a line
// stays part of its field (libcsv would end the record there, splitting one line in two).
int is_record_end(unsigned char c) { return c == '\n'; }

}  // namespace

// libcsv's parser and what its callbacks fill in.
class LibCsvParser {
 public:
  csv_parser parser{};
  const CsvFieldSink* sink = nullptr;
  size_t column = 0;
  bool record_done = false;

  LibCsvParser() { init(); }
  ~LibCsvParser() { csv_free(&parser); }
  LibCsvParser(const LibCsvParser&) = delete;
  LibCsvParser& operator=(const LibCsvParser&) = delete;

  void init() {
    if (csv_init(&parser, CSV_STRICT) != 0) throw std::bad_alloc();
    csv_set_term_func(&parser, is_record_end);
    // Grow a long field 64 KiB at a time, not libcsv's default 128 bytes.
    csv_set_blk_size(&parser, 64 * 1024);
  }

  // Forgets a record that failed mid-way (libcsv keeps its state after an error).
  void reset() {
    csv_free(&parser);
    init();
  }

  void begin_record(const CsvFieldSink& record_sink) {
    sink = &record_sink;
    column = 0;
    record_done = false;
  }

  static void on_field(void* text, size_t size, void* self) {
    auto& p = *static_cast<LibCsvParser*>(self);
    (*p.sink)(p.column, std::string_view(static_cast<const char*>(text), size));
    ++p.column;
  }
  static void on_record_end(int, void* self) {
    static_cast<LibCsvParser*>(self)->record_done = true;
  }

  // Feeds `bytes`; the error when libcsv stops early (then the parser is reset).
  std::optional<CsvSyntaxError> feed(std::string_view bytes) {
    const size_t used =
        csv_parse(&parser, bytes.data(), bytes.size(), on_field, on_record_end, this);
    if (used == bytes.size() && csv_error(&parser) == CSV_SUCCESS) return std::nullopt;
    CsvSyntaxError error{.column = column};
    if (csv_error(&parser) != CSV_EPARSE) {
      error.reason = std::string("CSV field too large: ") + csv_strerror(csv_error(&parser));
    } else if (parser.quoted) {
      error.reason = std::string("text after the closing quote of a quoted field") + kQuotingRule;
    } else {
      error.reason = std::string("a '\"' inside an unquoted field") + kQuotingRule;
    }
    reset();
    return error;
  }

  // Feeds one line and its end; the error, if any.
  std::optional<CsvSyntaxError> feed_line(std::string_view line) {
    if (auto error = feed(line)) return error;
    return feed("\n");
  }
};

CsvRecordReader::CsvRecordReader(const std::string& path)
    : lines_(path), parser_(std::make_unique<LibCsvParser>()) {}

CsvRecordReader::~CsvRecordReader() = default;

bool CsvRecordReader::next(CsvRecord& record, const CsvFieldSink& sink) {
  record = CsvRecord{};
  parser_->begin_record(sink);
  while (lines_.next(line_)) {
    if (record.line == 0) {
      if (is_blank(line_)) continue;
      record.line = lines_.line_number();
    }
    if (auto error = parser_->feed_line(line_)) {
      record.num_fields = parser_->column;
      record.error = std::move(error);
      return true;
    }
    if (parser_->record_done) {
      record.num_fields = parser_->column;
      return true;
    }
    // A quoted field holds a line break: the record goes on on the next line.
  }
  if (record.line == 0) return false;
  record.num_fields = parser_->column;
  record.error =
      CsvSyntaxError{.column = parser_->column,
                     .reason = "the file ends inside a quoted field (a '\"' never closed?)" +
                               std::string(kQuotingRule)};
  parser_->reset();
  return true;
}

CsvLineResult parse_csv_line(std::string_view line, const CsvFieldSink& sink) {
  CsvLineResult result;
  if (is_blank(line)) return result;
  LibCsvParser parser;
  parser.begin_record(sink);
  result.error = parser.feed_line(line);
  if (!result.error && !parser.record_done) {
    result.error = CsvSyntaxError{.column = parser.column,
                                  .reason = "a quoted field is not closed by the end of the line" +
                                            std::string(kQuotingRule)};
  }
  result.num_fields = parser.column;
  return result;
}

std::vector<std::string> split_csv_line(std::string_view line) {
  std::vector<std::string> fields;
  const auto result =
      parse_csv_line(line, [&](size_t, std::string_view text) { fields.emplace_back(text); });
  if (result.error) {
    throw RowError("column " + std::to_string(result.error->column + 1), result.error->reason);
  }
  return fields;
}

}  // namespace kvlab
