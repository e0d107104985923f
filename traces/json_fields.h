// Typed access to the fields of a JSON trace row, throwing RowError naming the key. Shared by
// the JSON readers; includes nlohmann/json, so only their .cc files include it.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace kvlab {

// Deepest nesting of arrays and objects a trace row may hold. Trace rows need 4 levels; a
// deeper value would overflow the stack in nlohmann's recursive dump() (error messages) and
// copies, so it is refused before it is built.
inline constexpr int kMaxJsonDepth = 256;

// json::parse(text), refusing nesting deeper than kMaxJsonDepth first: that throws
// json::parse_error at the bracket that goes too deep, like any other malformed JSON, so
// callers report it the same way (with its line). Throws what json::parse throws.
nlohmann::json parse_json_row(std::string_view text);

// The parse error's message without nlohmann's "[json.exception.parse_error.101] " prefix.
std::string json_error_text(const nlohmann::json::exception& error);

// object[key] as a number; RowError(key, ...) when missing, null or not a number.
double json_number(const nlohmann::json& object, const std::string& key);

// object[key] as a list of block hashes (integers >= 0); empty when the key is absent.
std::vector<uint64_t> json_hash_ids(const nlohmann::json& object, const std::string& key);

}  // namespace kvlab
