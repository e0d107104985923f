#include "traces/request_names.h"

#include <algorithm>

#include "traces/mooncake_jsonl_reader.h"

namespace kvlab {

void name_by_hash_ids(const std::vector<uint64_t>& hash_ids, RequestSpec& spec) {
  spec.prefix_hashes = hash_ids;
  spec.prefix_hash_tokens = kMooncakeHashBlockTokens;
  spec.named_len = static_cast<int32_t>(std::min<int64_t>(
      spec.prompt_len, static_cast<int64_t>(hash_ids.size()) * kMooncakeHashBlockTokens));
}

}  // namespace kvlab
