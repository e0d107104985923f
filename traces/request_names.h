// How the workload loader names requests' tokens for prefix caching: it fills
// RequestSpec::prefix_hashes, prefix_hash_tokens and named_len, and core/block_hash.h turns
// those names into KV block identities (traces/README.md, "Prefix sharing", gives the rules a
// user sees).
#pragma once

#include <cstdint>
#include <vector>

#include "core/request.h"

namespace kvlab {

// A Mooncake row (traces/mooncake_jsonl_reader.h): one hash id per kMooncakeHashBlockTokens
// tokens of the prompt, so tokens [0, min(prompt_len, ids * 512)) are named. Empty ids name
// nothing. REQUIRES: spec.prompt_len set.
void name_by_hash_ids(const std::vector<uint64_t>& hash_ids, RequestSpec& spec);

}  // namespace kvlab
