#include "core/block_hash.h"

#include <algorithm>

#include "core/block_hash_map.h"
#include "core/splitmix.h"

namespace kvlab {

namespace {

uint64_t mix(uint64_t h, uint64_t v) { return splitmix64_mix(h ^ splitmix64(v)); }

enum RunKind : uint64_t { kNamed = 1, kOwnPrompt = 2, kOwnOutput = 3, kTokenIds = 4 };

// The identity of tokens [begin, end) after `parent`, for sample `sample` of `spec` whose ids
// are `ids` (used when they cover the block).
uint64_t hash_tokens(uint64_t parent, const RequestSpec& spec, int32_t sample,
                     const std::vector<int32_t>& ids, int64_t begin, int64_t end) {
  uint64_t h = parent;
  if (static_cast<int64_t>(ids.size()) >= end) {
    h = mix(h, kTokenIds);
    for (int64_t p = begin; p < end; ++p) {
      h = mix(h, static_cast<uint64_t>(static_cast<uint32_t>(ids[static_cast<size_t>(p)])));
    }
    return h;
  }
  const int64_t unit = std::max<int32_t>(1, spec.prefix_hash_tokens);
  int64_t named_end =
      std::min<int64_t>(spec.named_len, static_cast<int64_t>(spec.prefix_hashes.size()) * unit);
  if (sample != 0) named_end = std::min<int64_t>(named_end, spec.prompt_len);
  int64_t p = begin;
  while (p < end) {
    int64_t run_end = end;
    if (p < named_end) {
      const int64_t entry = p / unit;
      run_end = std::min({end, named_end, (entry + 1) * unit});
      h = mix(mix(h, kNamed), spec.prefix_hashes[static_cast<size_t>(entry)]);
    } else if (p < spec.prompt_len) {
      run_end = std::min<int64_t>(end, spec.prompt_len);
      h = mix(mix(h, kOwnPrompt), static_cast<uint64_t>(spec.id));
    } else {
      h = mix(mix(mix(h, kOwnOutput), static_cast<uint64_t>(spec.id)),
              static_cast<uint64_t>(sample));
    }
    h = mix(h, static_cast<uint64_t>(run_end - p));
    p = run_end;
  }
  return h;
}

}  // namespace

uint64_t block_hash(uint64_t parent, const Sequence& seq, int32_t index, int32_t block_size) {
  const int64_t begin = int64_t{index} * block_size;
  const int32_t sample = static_cast<int32_t>(seq.id % kMaxSamples);
  return hash_tokens(parent, seq.group->spec, sample, seq.token_ids, begin, begin + block_size);
}

const std::vector<uint64_t>& sequence_block_hashes(const Sequence& seq, int32_t count,
                                                   int32_t block_size) {
  std::vector<uint64_t>& memo = seq.block_hashes;
  if (seq.block_hashes_block_size != block_size) {
    memo.clear();
    seq.block_hashes_block_size = block_size;
  }
  while (static_cast<int32_t>(memo.size()) < count) {
    const int32_t j = static_cast<int32_t>(memo.size());
    memo.push_back(block_hash(j == 0 ? kRootBlockHash : memo.back(), seq, j, block_size));
  }
  return memo;
}

std::vector<uint64_t> request_block_hashes(const RequestSpec& spec, int32_t len,
                                           int32_t block_size) {
  std::vector<uint64_t> out;
  const int32_t blocks = len / block_size;
  out.reserve(static_cast<size_t>(std::max(0, blocks)));
  uint64_t h = kRootBlockHash;
  for (int32_t j = 0; j < blocks; ++j) {
    const int64_t begin = int64_t{j} * block_size;
    h = hash_tokens(h, spec, 0, spec.prompt_tokens, begin, begin + block_size);
    out.push_back(h);
  }
  return out;
}

PrefixReuseBound unbounded_prefix_reuse(const std::vector<RequestSpec>& requests,
                                        int32_t block_size) {
  return unbounded_prefix_reuse(
      [&requests](const std::function<void(const RequestSpec&)>& visit) {
        for (const RequestSpec& r : requests) visit(r);
      },
      block_size);
}

PrefixReuseBound unbounded_prefix_reuse(const RequestPass& requests, int32_t block_size) {
  // The blocks a request leaves that another request could find: those of its first
  // sample's computed tokens (the answer is named only when the workload names it; token ids
  // are known only for the prompt; the answer's last token is sampled and never run, so its
  // KV is never there) that hold only named tokens or token ids. A block holding any of
  // the request's own unnamed tokens has an identity no other request can produce (it chains
  // the request's id), and so has every block after it: the walk stops there.
  const auto shareable_blocks = [block_size](const RequestSpec& r) {
    if (!r.prompt_tokens.empty()) {
      return static_cast<int32_t>(
                 std::min<size_t>(r.prompt_tokens.size(), static_cast<size_t>(r.prompt_len))) /
             block_size;
    }
    const int64_t unit = std::max<int32_t>(1, r.prefix_hash_tokens);
    const int64_t named = std::min<int64_t>({int64_t{r.named_len},
                                             static_cast<int64_t>(r.prefix_hashes.size()) * unit,
                                             int64_t{r.prompt_len} + r.output_len - 1});
    return static_cast<int32_t>(named / block_size);
  };
  // Named requests all naming entries of one size that whole blocks tile: a block is shared
  // exactly when the entries up to its own agree and both requests name all of it, so the walk
  // can go an entry at a time, remembering per entry chain how many of its blocks some earlier
  // request named (Mooncake: 32 blocks of 16 per 512-token id; the per-block walk would store
  // every block's identity). Other workloads walk block by block.
  int32_t unit = 0;
  bool by_entry = true;
  requests([&](const RequestSpec& r) {
    if (!r.prompt_tokens.empty() || r.prefix_hashes.empty()) return;
    const int32_t u = std::max<int32_t>(1, r.prefix_hash_tokens);
    if (unit == 0) unit = u;
    if (u != unit || u % block_size != 0) by_entry = false;
  });
  const int32_t per_entry = unit > 0 ? unit / block_size : 0;
  size_t total_keys = 0;
  requests([&](const RequestSpec& r) {
    const bool entries = by_entry && r.prompt_tokens.empty();
    total_keys += entries ? r.prefix_hashes.size() : static_cast<size_t>(shareable_blocks(r));
  });
  BlockHashMap seen(total_keys);
  PrefixReuseBound bound;
  requests([&](const RequestSpec& r) {
    bound.prompt_tokens += r.prompt_len;
    const int32_t lookable = max_cached_blocks(r.prompt_len, 0, block_size);
    bound.prompt_blocks += lookable;
    const int32_t blocks = shareable_blocks(r);
    int32_t hits = 0;
    if (by_entry && r.prompt_tokens.empty()) {
      // Blocks this request could find: lookable and wholly named by its prompt's names.
      const int64_t named_prompt =
          std::min<int64_t>(r.named_len, static_cast<int64_t>(r.prefix_hashes.size()) * unit);
      const int32_t findable =
          std::min<int32_t>(lookable, static_cast<int32_t>(named_prompt / block_size));
      uint64_t chain = splitmix64_mix(kRootBlockHash ^ splitmix64(static_cast<uint64_t>(unit)));
      bool hitting = true;
      for (size_t e = 0; e < r.prefix_hashes.size(); ++e) {
        const int32_t first = static_cast<int32_t>(e) * per_entry;
        if (first >= blocks && first >= findable) break;
        chain = splitmix64_mix(chain ^ splitmix64(r.prefix_hashes[e]));
        int32_t* known = seen.find(chain);
        if (hitting) {
          const int32_t take =
              known ? std::min({*known, per_entry, std::max(0, findable - first)}) : 0;
          hits += take;
          hitting = take == per_entry;
        }
        const int32_t named = std::min(per_entry, std::max(0, blocks - first));
        if (named > 0) {
          if (known == nullptr) {
            seen.insert(chain, named);
          } else if (*known < named) {
            *known = named;
          }
        }
      }
    } else {
      // A request's own blocks never repeat one another (each identity chains its parent's),
      // so adding them as they are walked finds the same hits as looking all up first.
      bool hitting = true;
      uint64_t h = kRootBlockHash;
      for (int32_t j = 0; j < blocks; ++j) {
        const int64_t begin = int64_t{j} * block_size;
        h = hash_tokens(h, r, 0, r.prompt_tokens, begin, begin + block_size);
        hitting = hitting && j < lookable && seen.contains(h);
        if (hitting) ++hits;
        seen.insert(h, 0);
      }
    }
    bound.hit_blocks += hits;
    bound.hit_tokens += int64_t{hits} * block_size;
  });
  return bound;
}

}  // namespace kvlab
