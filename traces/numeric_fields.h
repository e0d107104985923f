// Parsing of the numeric fields trace rows hold: token counts and times in seconds. Both
// throw RowError naming the field, with the offending text, so readers share one wording.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kvlab {

// Largest token count a request can hold (RequestSpec uses int32_t lengths).
inline constexpr int64_t kMaxTokenCount = 2147483647;

// A token count: a whole decimal number ("74"; "74.0" is accepted too, as pandas writes
// integer columns that held a NaN) in [min_value, kMaxTokenCount]. Leading and trailing
// spaces and one pair of surrounding double quotes are ignored.
// Throws RowError(field, ...) for empty, non-numeric, fractional, negative, too small or
// too large values.
int64_t parse_token_count(std::string_view text, const std::string& field, int64_t min_value);

// Checks a token count already parsed as a number (JSON formats) against the same rules.
int64_t check_token_count(double value, const std::string& field, int64_t min_value);

// A time in seconds: a finite decimal number >= 0. Throws RowError(field, ...).
double parse_seconds(std::string_view text, const std::string& field);

// `text` without surrounding spaces/tabs and without one pair of surrounding double quotes.
std::string_view trim_field(std::string_view text);

}  // namespace kvlab
