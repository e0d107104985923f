// The content identity of KV blocks, for prefix caching (vLLM v1's block hashes).
//
// Block j of a sequence (tokens [j * block_size, (j + 1) * block_size)) is identified by a
// chain hash: hash(identity of block j - 1, what block j's tokens are). Two blocks with the
// same identity hold the same tokens after the same prefix, so their KV is the same and one
// can serve both. What the tokens are:
//  - token ids, when the sequence has them (real back ends: the actual prompt and generated
//    ids);
//  - otherwise (the simulator) the request's names (RequestSpec::prefix_hashes): a token p
//    below named_len is "entry p / prefix_hash_tokens of the names"; a prompt token past it is
//    "this request's own"; a generated token is "this request's sample s's own", except that
//    the first sample's tokens below named_len are named (a conversation's next turn repeats
//    them). A block is described by its runs of tokens (kind, entry or request and sample, run
//    length), so a block inside one named entry costs one hash step whatever its size.
//
// Mooncake's hash_ids name 512-token blocks: with memory.block_size b, kvlab block j is
// identified by the entries covering its tokens, so it is shared exactly when every Mooncake
// block up to the one holding its last token is (b need not divide 512). A prompt's partial
// last Mooncake block names only the prompt's tokens in it (named_len = prompt_len), so a
// kvlab block is named only when it lies wholly inside the prompt; and only full blocks are
// ever cached. The chain is 64-bit: two different prefixes collide with probability about
// 2^-64 per pair (vLLM's default hash makes the same trade).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/request.h"

namespace kvlab {

// The identity a chain starts from (block 0's parent).
inline constexpr uint64_t kRootBlockHash = 0x6b766c61622d6b76ULL;

// The identity of block `index` of `seq` (whose tokens [index * block_size, (index + 1) *
// block_size) must exist: index < num_tokens / block_size), given its parent's identity.
uint64_t block_hash(uint64_t parent, const Sequence& seq, int32_t index, int32_t block_size);

// The identities of blocks [0, count) of `seq` (count <= num_tokens / block_size), from the
// sequence's memo (Sequence::block_hashes), extended as needed: a full block's tokens never
// change (a sequence only appends), so each identity is computed once per sequence and block
// size, however often a cache looks the sequence up (vLLM v1 keeps Request.block_hashes the
// same way). The returned reference is valid until the next call for `seq`.
const std::vector<uint64_t>& sequence_block_hashes(const Sequence& seq, int32_t count,
                                                   int32_t block_size);

// The same for a request's first sample before it runs, over `len` tokens (prompt_len, or up
// to prompt_len + output_len for the tokens it will have): identities of its full blocks
// among the first `len` tokens. For token-id identities pass the ids (may be empty).
std::vector<uint64_t> request_block_hashes(const RequestSpec& spec, int32_t len,
                                           int32_t block_size);

// Tokens of a sequence of num_tokens tokens that a cache may serve at admission: whole blocks
// only, and at least the last token is left to compute so it has logits (at least the last
// two when it has generated tokens: its last token's slot is then a decode's). In blocks.
inline int32_t max_cached_blocks(int32_t num_tokens, int32_t num_generated, int32_t block_size) {
  const int32_t computable = num_tokens - (num_generated > 0 ? 2 : 1);
  return computable > 0 ? computable / block_size : 0;
}

// The hit rate an unbounded cache would reach on these requests in this order (each
// request's prompt blocks looked up, then every full block of its first sample's computed
// tokens added: prompt and answer but the answer's last token, which is never run): the upper
// bound of prefix caching on a workload. Blocks and tokens.
struct PrefixReuseBound {
  int64_t prompt_tokens = 0;
  int64_t hit_tokens = 0;
  int64_t prompt_blocks = 0;  // full blocks a cache could serve (max_cached_blocks)
  int64_t hit_blocks = 0;
};
PrefixReuseBound unbounded_prefix_reuse(const std::vector<RequestSpec>& requests,
                                        int32_t block_size);
// The same over requests a caller can only walk (a streamed run's workload, read again):
// each call of `requests` calls its argument on every request, in order (the bound walks
// them three times).
using RequestPass = std::function<void(const std::function<void(const RequestSpec&)>&)>;
PrefixReuseBound unbounded_prefix_reuse(const RequestPass& requests, int32_t block_size);

}  // namespace kvlab
