// mooncake-jsonl: Mooncake's request traces (kvcache-ai/Mooncake, FAST'25), one JSON object
// per line:
//   {"timestamp": 0, "input_length": 6758, "output_length": 500, "hash_ids": [0, 1, 2]}
// timestamp: milliseconds (a number >= 0) and kept as timestamp_s = timestamp / 1000, not
// rebased; input_length / output_length: whole numbers >= 1; hash_ids: optional array of
// integers >= 0, one per 512-token block of the prompt (equal ids = shared prefix), kept in
// TraceRow::hash_ids. Other keys are ignored and blank lines skipped. A line that is not
// valid JSON (truncated), is not an object, or has a missing / malformed key is a bad row
// whose message names the line and the key ("json" for the line as a whole).
#pragma once

#include <cstdint>
#include <string>

#include "core/workload.h"

namespace kvlab {

// Parses one non-blank line. Throws RowError (traces/bad_rows.h) naming the key.
TraceRow parse_mooncake_line(const std::string& line, int64_t line_number);

}  // namespace kvlab
