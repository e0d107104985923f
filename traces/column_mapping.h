// workload.columns: which columns (CSV header names) or keys (JSONL objects) of a trace hold a
// request's arrival time, prompt length and output length, for traces kvlab has no named
// format for: `arrival:Timestamp, prompt:Request tokens, output:Response tokens`. Names may hold
// spaces (trimmed at both ends) but not commas; a role is named once; prompt and output are
// required, arrival is optional (without it arrivals come from workload.arrival and
// workload.rate). Arrival times are numbers >= 0 in workload.arrival_unit (s, ms or us) from
// any origin: kvlab rebases them to the earliest.
#pragma once

#include <string>

namespace kvlab {

struct ColumnMapping {
  std::string arrival;  // empty: no arrival column
  std::string prompt;
  std::string output;
  double arrival_unit_s = 1.0;  // seconds per unit of the arrival column
};

// Parses workload.columns and workload.arrival_unit. Throws InputError naming the key.
ColumnMapping parse_column_mapping(const std::string& columns, const std::string& arrival_unit);

}  // namespace kvlab
