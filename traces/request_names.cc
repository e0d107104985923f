#include "traces/request_names.h"

#include <algorithm>
#include <limits>

#include "core/splitmix.h"
#include "traces/deterministic_random.h"
#include "traces/mooncake_jsonl_reader.h"

namespace kvlab {

namespace {

// Seed stream of system prompt names (workload_loader.cc lists every stream).
constexpr uint64_t kSystemPromptStream = 4;
constexpr uint64_t kConversationStream = 5;

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

uint64_t conversation_name(uint64_t seed, int64_t index) {
  return splitmix64(derive_seed(seed, kConversationStream) ^
                    splitmix64(static_cast<uint64_t>(index)));
}

void name_conversation_turn(uint64_t conversation, int32_t system_len, uint64_t system_prompt,
                            RequestSpec& spec) {
  const int64_t unit = system_len > 0 ? system_len : kConversationEntryTokens;
  const int64_t named = std::min<int64_t>(int64_t{spec.prompt_len} + spec.output_len,
                                          std::numeric_limits<int32_t>::max());
  const int64_t entries = (named + unit - 1) / unit;
  spec.prefix_hashes.clear();
  spec.prefix_hashes.reserve(static_cast<size_t>(entries));
  for (int64_t e = 0; e < entries; ++e) {
    spec.prefix_hashes.push_back(
        system_len > 0 && e == 0 ? system_prompt
                                 : splitmix64(conversation ^ splitmix64(static_cast<uint64_t>(e))));
  }
  spec.prefix_hash_tokens = static_cast<int32_t>(unit);
  spec.named_len = static_cast<int32_t>(named);
}

}  // namespace kvlab
