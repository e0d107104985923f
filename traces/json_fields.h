// Typed access to the fields of a JSON trace row, throwing RowError naming the key. Shared by
// the JSON readers; includes nlohmann/json, so only their .cc files include it.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kvlab {

// The parse error's message without nlohmann's "[json.exception.parse_error.101] " prefix.
std::string json_error_text(const nlohmann::json::exception& error);

// object[key] as a number; RowError(key, ...) when missing, null or not a number.
double json_number(const nlohmann::json& object, const std::string& key);

// object[key] as a list of block hashes (integers >= 0); empty when the key is absent.
std::vector<uint64_t> json_hash_ids(const nlohmann::json& object, const std::string& key);

}  // namespace kvlab
