#include "traces/numeric_fields.h"

#include <charconv>
#include <cmath>

#include "traces/bad_rows.h"

namespace kvlab {

namespace {

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

// Parses all of `text` as a double; false when any character is left over.
bool parse_double(std::string_view text, double& value) {
  if (text.empty()) return false;
  // from_chars rejects a leading '+', which some writers emit.
  if (text.front() == '+') text.remove_prefix(1);
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return ec == std::errc() && ptr == end;
}

}  // namespace

std::string_view trim_field(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  text = text.substr(first, text.find_last_not_of(" \t") - first + 1);
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
    text = text.substr(1, text.size() - 2);
  }
  return text;
}

int64_t check_token_count(double value, const std::string& field, int64_t min_value) {
  if (!std::isfinite(value)) throw RowError(field, "not a finite number");
  if (value < 0) throw RowError(field, "negative length " + std::to_string(std::llround(value)));
  if (value != std::floor(value)) {
    throw RowError(field, "not a whole number of tokens: " + std::to_string(value));
  }
  if (value > static_cast<double>(kMaxTokenCount)) {
    throw RowError(field, "length too large (max " + std::to_string(kMaxTokenCount) + ")");
  }
  const auto count = static_cast<int64_t>(value);
  if (count < min_value) {
    throw RowError(
        field, "length must be >= " + std::to_string(min_value) + ", got " + std::to_string(count));
  }
  return count;
}

int64_t parse_token_count(std::string_view text, const std::string& field, int64_t min_value) {
  text = trim_field(text);
  if (text.empty()) throw RowError(field, "empty value, expected a token count");
  int64_t integer = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, integer);
  if (ec == std::errc() && ptr == end) {
    if (integer < 0) throw RowError(field, "negative length " + quoted(text));
    if (integer > kMaxTokenCount) {
      throw RowError(field, "length too large " + quoted(text) + " (max " +
                                std::to_string(kMaxTokenCount) + ")");
    }
    return check_token_count(static_cast<double>(integer), field, min_value);
  }
  double value = 0;
  if (!parse_double(text, value) || !std::isfinite(value)) {
    throw RowError(field, "not a number: " + quoted(text));
  }
  if (value < 0) throw RowError(field, "negative length " + quoted(text));
  if (value != std::floor(value)) {
    throw RowError(field, "not a whole number of tokens: " + quoted(text));
  }
  return check_token_count(value, field, min_value);
}

double parse_seconds(std::string_view text, const std::string& field) {
  text = trim_field(text);
  if (text.empty()) throw RowError(field, "empty value, expected seconds");
  double value = 0;
  if (!parse_double(text, value)) throw RowError(field, "not a number: " + quoted(text));
  if (!std::isfinite(value)) throw RowError(field, "not a finite time: " + quoted(text));
  if (value < 0) throw RowError(field, "negative time " + quoted(text));
  return value;
}

}  // namespace kvlab
