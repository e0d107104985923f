// Grouped-query attention over the KV cache, read through a KvSeqView (paged or contiguous).
//
// Heads: query head h reads KV head h / (num_heads / num_kv_heads) (Hugging Face repeat_kv).
// Scores are q . k / sqrt(head_dim); softmax in fp32 with the row maximum subtracted.
//
// The K/V of every token attended over must already be in the cache: write_kv runs first, so
// a prefill chunk's queries see the chunk's own keys through the cache, exactly like the
// keys of earlier chunks. Only slots of the first context_lens[i] tokens of sequence i are
// read (tests poison the rest of the arena with NaN to prove it).
//
// Two entry points with separate implementations, each the reference its CUDA twin is checked
// against:
//  - decode: one query token per sequence (its last token), GEMM per (sequence, KV head) over
//    the group's query heads;
//  - prefill: a chunk of query tokens per sequence, causal: the chunk holds the sequence's
//    last q_len tokens, at positions [context_len - q_len, context_len), and the query at
//    position p sees keys 0..p. With q_len == context_len it is a whole prompt; with
//    q_len < context_len a chunk that follows earlier chunks already in the cache (chunked
//    prefill), or a decode.
#pragma once

#include <cstdint>
#include <span>

#include "kernels/cpu/kv_quant.h"
#include "kernels/cpu/tensor.h"
#include "kernels/kv_cache_view.h"

namespace kvlab::cpu {

// q and out: [seqs.num_seqs][num_heads * head_dim]; row i is sequence i's token at position
// context_lens[i] - 1.
// REQUIRES (checked): num_heads % arena.num_kv_heads == 0; shapes match; context_lens >= 1.
void decode_attention(const MatrixCRef& q, const KvSeqView& seqs,
                      const KvArenaView<const float>& arena, int32_t num_heads, MatrixRef out);

// q and out: [query_indptr[num_seqs]][num_heads * head_dim]; rows
// [query_indptr[i], query_indptr[i + 1]) are sequence i's last q_len_i tokens in order.
// REQUIRES (checked): query_indptr has num_seqs + 1 non-decreasing entries from 0;
// q_len_i <= context_lens[i] (a sequence with q_len_i == 0 is skipped).
void prefill_attention(const MatrixCRef& q, std::span<const int32_t> query_indptr,
                       const KvSeqView& seqs, const KvArenaView<const float>& arena,
                       int32_t num_heads, MatrixRef out);

// The same over a layer in any stored format (memory.kv_dtype): each K and V vector read is
// dequantized (with its scale) before the GEMMs, which run in fp32. An fp32 store is the
// overloads above, exactly.
void decode_attention(const MatrixCRef& q, const KvSeqView& seqs, const KvLayerStore& store,
                      int32_t num_heads, MatrixRef out);
void prefill_attention(const MatrixCRef& q, std::span<const int32_t> query_indptr,
                       const KvSeqView& seqs, const KvLayerStore& store, int32_t num_heads,
                       MatrixRef out);

}  // namespace kvlab::cpu
