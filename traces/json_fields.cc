#include "traces/json_fields.h"

#include "traces/bad_rows.h"

namespace kvlab {

using nlohmann::json;

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
