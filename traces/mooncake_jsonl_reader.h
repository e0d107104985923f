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

// Tokens one Mooncake hash id names: each id stands for a 512-token block of the prompt, the
// last one possibly partial. Mooncake's trace README (FAST25-release/README.md) calls hash_ids
// "the remapped block hash" and its technical report (arXiv 2407.00079, section 4) gives the
// 512-token block; the rows carry no field for it. shared/traces/README.md says the same, and
// every row of its mooncake_conversation.jsonl has exactly ceil(input_length / 512) ids. The
// loader names a row's tokens [0, min(input_length, ids * 512)) with them
// (RequestSpec::prefix_hash_tokens = this, see traces/README.md for the mapping onto blocks).
inline constexpr int32_t kMooncakeHashBlockTokens = 512;

// Parses one non-blank line. Throws RowError (traces/bad_rows.h) naming the key.
TraceRow parse_mooncake_line(const std::string& line, int64_t line_number);

}  // namespace kvlab
