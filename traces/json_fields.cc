#include "traces/json_fields.h"

#include "traces/bad_rows.h"

namespace kvlab {

using nlohmann::json;

json parse_json_row(std::string_view text) {
  // Brackets count only outside strings; in valid JSON this is exactly the parser's nesting
  // (invalid JSON fails in json::parse anyway, whose own parser is not recursive).
  int depth = 0;
  bool in_string = false;
  size_t line = 0, line_start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      line_start = i + 1;
    } else if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) {
        const nlohmann::detail::position_t at{.chars_read_total = i + 1,
                                              .chars_read_current_line = i + 1 - line_start,
                                              .lines_read = line};
        throw json::parse_error::create(
            101, at, "nested deeper than " + std::to_string(kMaxJsonDepth) + " arrays and objects",
            nullptr);
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return json::parse(text);
}

std::string json_error_text(const json::exception& error) {
  std::string text = error.what();
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find("] ");
    if (close != std::string::npos) text.erase(0, close + 2);
  }
  return text;
}

double json_number(const json& object, const std::string& key) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) throw RowError(key, "missing");
  if (!it->is_number()) throw RowError(key, "not a number: " + it->dump());
  return it->get<double>();
}

std::vector<uint64_t> json_hash_ids(const json& object, const std::string& key) {
  std::vector<uint64_t> ids;
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return ids;
  if (!it->is_array()) throw RowError(key, "expected an array of integers, got " + it->dump());
  ids.reserve(it->size());
  for (size_t i = 0; i < it->size(); ++i) {
    const json& id = (*it)[i];
    if (!id.is_number_integer() || (!id.is_number_unsigned() && id.get<int64_t>() < 0)) {
      throw RowError(key, "element " + std::to_string(i) + " is not an integer >= 0: " + id.dump());
    }
    ids.push_back(id.get<uint64_t>());
  }
  return ids;
}

}  // namespace kvlab
