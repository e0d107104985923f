#include "traces/column_mapping.h"

#include "core/errors.h"
#include "core/suggest.h"

namespace kvlab {

namespace {

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

[[noreturn]] void fail(const std::string& reason) {
  throw InputError("", 0, "workload.columns",
                   reason +
                       " (expected ROLE:NAME, ... with roles arrival (optional), prompt, "
                       "output, e.g. 'arrival:Timestamp, prompt:Request tokens, "
                       "output:Response tokens')");
}

}  // namespace

ColumnMapping parse_column_mapping(const std::string& columns, const std::string& arrival_unit) {
  ColumnMapping m;
  if (arrival_unit == "s") {
    m.arrival_unit_s = 1.0;
  } else if (arrival_unit == "ms") {
    m.arrival_unit_s = 1e-3;
  } else if (arrival_unit == "us") {
    m.arrival_unit_s = 1e-6;
  } else {
    throw InputError("", 0, "workload.arrival_unit",
                     unknown_name_message("arrival unit", arrival_unit, {"s", "ms", "us"}));
  }
  if (trim(columns).empty()) fail("empty");
  size_t start = 0;
  while (start <= columns.size()) {
    size_t comma = columns.find(',', start);
    if (comma == std::string::npos) comma = columns.size();
    const std::string entry = trim(columns.substr(start, comma - start));
    start = comma + 1;
    const size_t colon = entry.find(':');
    if (colon == std::string::npos) fail("'" + entry + "' has no ':' between role and column");
    const std::string role = trim(entry.substr(0, colon));
    const std::string name = trim(entry.substr(colon + 1));
    if (name.empty()) fail("role '" + role + "' names no column");
    std::string* slot = nullptr;
    if (role == "arrival") {
      slot = &m.arrival;
    } else if (role == "prompt") {
      slot = &m.prompt;
    } else if (role == "output") {
      slot = &m.output;
    } else {
      fail(unknown_name_message("role", role, {"arrival", "prompt", "output"}));
    }
    if (!slot->empty()) fail("role '" + role + "' given twice");
    *slot = name;
  }
  if (m.prompt.empty()) fail("no prompt column");
  if (m.output.empty()) fail("no output column");
  return m;
}

}  // namespace kvlab
