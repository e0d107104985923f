// Grouped-query attention over the KV cache on the GPU: the CUDA twins of
// kernels/cpu/attention.h, with the same contracts (heads, scaling, causal rule, which slots
// are read), over the same views (KvSeqView / KvArenaView holding device pointers).
//
//  - decode_attention: one query per sequence. One pass (a thread block per query head and
//    sequence walks the whole context) or split-K (the context is cut into partitions of
//    `partition_tokens`, each a block, merged by a reduction kernel: FlashDecoding / vLLM's
//    paged_attention_v2), chosen by choose_decode_algorithm unless forced.
//  - prefill_attention: a chunk of queries per sequence, causal, at positions
//    [context - q_len, context).
//
// Storage T is float, __half or __nv_bfloat16 (q, out, and K/V unless the cache is quantized:
// fp8_e4m3 or int8 codes with per-vector scales); scores, softmax and sums are fp32. Head dims
// 64 and 128 have specialized kernels (vector loads); any head_dim up to 256 runs on the
// generic path. Everything is enqueued on `stream`; nothing synchronizes.
//
// Errors: a bad shape throws InvariantError (as the CPU ops do); a failed launch throws
// CudaError naming the op.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/device_kv_view.h"
#include "kernels/cuda/dtype.h"
#include "kernels/kv_cache_view.h"

namespace kvlab::cuda {

enum class DecodeAlgorithm { kAuto, kOnePass, kSplitK };
const char* to_string(DecodeAlgorithm algorithm);

struct DecodeOptions {
  DecodeAlgorithm algorithm = DecodeAlgorithm::kAuto;
  int32_t partition_tokens = 512;  // split-K partition length (vLLM v2 uses 512)
};

// kAuto's rule (vLLM's v1/v2 choice): one pass when the longest context fits one partition,
// or when it is at most 8192 tokens and the batch alone has more than 512 (sequence, head)
// blocks to fill the GPU; split-K otherwise.
DecodeAlgorithm choose_decode_algorithm(int32_t num_seqs, int32_t num_heads, int32_t max_context,
                                        int32_t partition_tokens);

// Bytes of split-K workspace for this shape (0 for one pass).
int64_t decode_workspace_bytes(int32_t num_seqs, int32_t num_heads, int32_t head_dim,
                               int32_t max_context, int32_t partition_tokens);

// q: row i ([num_heads * head_dim], rows q_stride elements apart) is sequence i's token at
// position context_lens[i] - 1; out likewise. `max_context` is the largest context_lens entry
// (the host's copy: the view's arrays are on the device). `workspace` grows as split-K needs.
// REQUIRES (checked): num_heads % arena.num_kv_heads == 0; 0 < head_dim <= 256;
// 1 <= every context_len <= max_context (the kernel trusts the device array).
template <typename T>
void decode_attention(const T* q, int64_t q_stride, const KvSeqView& seqs, int32_t max_context,
                      const KvArenaView<const T>& arena, int32_t num_heads, T* out,
                      int64_t out_stride, DeviceBuffer& workspace, cudaStream_t stream,
                      DecodeOptions options = {});

// q / out rows [query_indptr[i], query_indptr[i + 1]) are sequence i's chunk (its last q_len_i
// tokens, in order). `query_indptr` is a device array; `max_q_len` the host's largest q_len.
// REQUIRES (checked): as decode_attention; q_len_i <= context_lens[i] (trusted on the device).
template <typename T>
void prefill_attention(const T* q, int64_t q_stride, const int32_t* query_indptr, int32_t max_q_len,
                       const KvSeqView& seqs, const KvArenaView<const T>& arena, int32_t num_heads,
                       T* out, int64_t out_stride, cudaStream_t stream);

// The same over a quantized layer (CudaKvCache::scaled_layer: fp8_e4m3 or int8 codes and
// their scales): each K and V element read is its code times its vector's scale, the value
// cpu::dequantize_kv gives, then as above.
template <typename T>
void decode_attention(const T* q, int64_t q_stride, const KvSeqView& seqs, int32_t max_context,
                      const ScaledKvLayer& arena, int32_t num_heads, T* out, int64_t out_stride,
                      DeviceBuffer& workspace, cudaStream_t stream, DecodeOptions options = {});
template <typename T>
void prefill_attention(const T* q, int64_t q_stride, const int32_t* query_indptr, int32_t max_q_len,
                       const KvSeqView& seqs, const ScaledKvLayer& arena, int32_t num_heads, T* out,
                       int64_t out_stride, cudaStream_t stream);

}  // namespace kvlab::cuda
