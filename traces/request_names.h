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

// The name of system prompt `group` (workload.shared_prefix_len): a function of the workload
// seed and the group, so workloads with the same seed share their system prompts.
uint64_t system_prompt_name(uint64_t seed, int64_t group);

// A request whose first min(shared_len, prompt_len) tokens are the system prompt `name`: one
// entry of shared_len tokens. Requests with the same name hold the same tokens there, however
// long their prompts (a shorter prompt holds the system prompt's beginning).
// REQUIRES: shared_len > 0, spec.prompt_len set, spec names nothing yet.
void name_system_prompt(uint64_t name, int32_t shared_len, RequestSpec& spec);

// Tokens a conversation's name entry covers when it has no system prompt.
inline constexpr int32_t kConversationEntryTokens = 512;

// The name of conversation `index` (TraceRow::conversation), from the workload seed.
uint64_t conversation_name(uint64_t seed, int64_t index);

// A turn of a conversation (workload.multi_turn): its tokens are the conversation's first
// prompt_len + output_len tokens (the conversation so far, then this turn's answer), the same
// in every turn at the same position, so names are positional: entry e of
// prefix_hash_tokens tokens is hash(conversation, e), and named_len = prompt_len + output_len
// (past the prompt: the first sample's answer, which the next turn's prompt repeats). With a
// system prompt of system_len > 0 tokens (its length in this conversation: min(S, the first
// turn's prompt_len)), entries are system_len tokens and entry 0 is the system prompt's name,
// so the conversation also shares the system prompt with its group.
// REQUIRES: spec.prompt_len and output_len set, the same system_len for every turn.
void name_conversation_turn(uint64_t conversation, int32_t system_len, uint64_t system_prompt,
                            RequestSpec& spec);

}  // namespace kvlab
