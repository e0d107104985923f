#include "traces/request_names.h"

#include <algorithm>

#include "core/splitmix.h"
#include "traces/deterministic_random.h"
#include "traces/mooncake_jsonl_reader.h"

namespace kvlab {

namespace {

// Seed stream of system prompt names (workload_loader.cc lists every stream).
constexpr uint64_t kSystemPromptStream = 4;

}  // namespace

void name_by_hash_ids(const std::vector<uint64_t>& hash_ids, RequestSpec& spec) {
  spec.prefix_hashes = hash_ids;
  spec.prefix_hash_tokens = kMooncakeHashBlockTokens;
  spec.named_len = static_cast<int32_t>(std::min<int64_t>(
      spec.prompt_len, static_cast<int64_t>(hash_ids.size()) * kMooncakeHashBlockTokens));
}

uint64_t system_prompt_name(uint64_t seed, int64_t group) {
  return splitmix64(derive_seed(seed, kSystemPromptStream) ^
                    splitmix64(static_cast<uint64_t>(group)));
}

void name_system_prompt(uint64_t name, int32_t shared_len, RequestSpec& spec) {
  spec.prefix_hashes = {name};
  spec.prefix_hash_tokens = shared_len;
  spec.named_len = std::min(shared_len, spec.prompt_len);
}

}  // namespace kvlab
