#include "traces/line_reader.h"

#include <filesystem>
#include <sstream>

#include "core/errors.h"

namespace kvlab {

namespace {

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

// Opens `path` for reading or throws InputError saying why not.
void open_or_throw(std::ifstream& in, const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) {
    throw InputError(path, 0, "", "trace file does not exist");
  }
  if (std::filesystem::is_directory(status)) {
    throw InputError(path, 0, "", "trace path is a directory, not a file");
  }
  in.open(path, std::ios::binary);
  if (!in) throw InputError(path, 0, "", "cannot open trace file for reading");
}

void strip_bom(std::string& text) {
  if (text.compare(0, kUtf8Bom.size(), kUtf8Bom) == 0) text.erase(0, kUtf8Bom.size());
}

}  // namespace

LineReader::LineReader(const std::string& path) : path_(path) { open_or_throw(in_, path_); }

bool LineReader::next(std::string& line) {
  if (!std::getline(in_, line)) return false;
  ++line_number_;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line_number_ == 1) strip_bom(line);
  return true;
}

std::string read_whole_file(const std::string& path) {
  std::ifstream in;
  open_or_throw(in, path);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  strip_bom(text);
  return text;
}

std::string read_first_line(const std::string& path) {
  LineReader reader(path);
  std::string line;
  reader.next(line);
  return line;
}

bool is_blank(std::string_view text) {
  return text.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

}  // namespace kvlab
