#include "kernels/cuda/attention.h"

#include <cmath>
#include <string>

#include "core/errors.h"
#include "kernels/cuda/attention_kernels.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_kv_tables.h"

namespace kvlab::cuda {

namespace {

void check_heads(const char* who, int32_t num_heads, int32_t num_kv_heads, int32_t head_dim) {
  check_invariant(num_kv_heads > 0 && num_heads > 0 && num_heads % num_kv_heads == 0,
                  std::string(who) + ": " + std::to_string(num_heads) +
                      " query heads do not split over " + std::to_string(num_kv_heads) +
                      " KV heads");
  check_invariant(head_dim > 0 && head_dim <= kMaxHeadDim,
                  std::string(who) + ": head_dim " + std::to_string(head_dim) + " outside 1.." +
                      std::to_string(kMaxHeadDim));
}

float softmax_scale(int32_t head_dim) {
  // As the CPU op: 1 / sqrt(head_dim) in double, rounded once.
  return static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim)));
}

bool multiple(const void* p, int64_t bytes) {
  return reinterpret_cast<uintptr_t>(p) % static_cast<uintptr_t>(bytes) == 0;
}

// The 64 / 128 kernels load head_dim / 32 elements per lane at once: every row they read must
// start at a multiple of that many elements.
template <typename T>
bool vector_aligned(const T* q, int64_t q_stride, const DeviceKvArena<const T>& arena) {
  if (arena.head_dim != 64 && arena.head_dim != 128) return false;
  const int64_t vec = arena.head_dim / 32;
  const int64_t bytes = vec * static_cast<int64_t>(sizeof(T));
  return multiple(q, bytes) && q_stride % vec == 0 && multiple(arena.k, bytes) &&
         multiple(arena.v, bytes) && arena.slot_stride % vec == 0 && arena.head_stride % vec == 0;
}

// A quantized arena's rows are head_dim bytes apart, so its codes align when its bases do.
template <typename T, typename Code>
bool vector_aligned(const T* q, int64_t q_stride, const DeviceScaledKvArena<Code>& arena) {
  if (arena.head_dim != 64 && arena.head_dim != 128) return false;
  const int64_t vec = arena.head_dim / 32;
  return multiple(q, vec * static_cast<int64_t>(sizeof(T))) && q_stride % vec == 0 &&
         multiple(arena.k, vec) && multiple(arena.v, vec);
}

const char* kv_name(ScaledKvFormat format) {
  return format == ScaledKvFormat::kFp8E4m3 ? "K/V fp8_e4m3" : "K/V int8";
}

}  // namespace

const char* to_string(DecodeAlgorithm algorithm) {
  switch (algorithm) {
    case DecodeAlgorithm::kOnePass:
      return "one_pass";
    case DecodeAlgorithm::kSplitK:
      return "split_k";
    case DecodeAlgorithm::kAuto:
    default:
      return "auto";
  }
}

DecodeAlgorithm choose_decode_algorithm(int32_t num_seqs, int32_t num_heads, int32_t max_context,
                                        int32_t partition_tokens) {
  const int64_t partitions = (int64_t{max_context} + partition_tokens - 1) / partition_tokens;
  if (partitions <= 1) return DecodeAlgorithm::kOnePass;
  if (max_context <= 8192 && int64_t{num_seqs} * num_heads > 512) return DecodeAlgorithm::kOnePass;
  return DecodeAlgorithm::kSplitK;
}

int64_t decode_workspace_bytes(int32_t num_seqs, int32_t num_heads, int32_t head_dim,
                               int32_t max_context, int32_t partition_tokens) {
  const int64_t partitions = (int64_t{max_context} + partition_tokens - 1) / partition_tokens;
  if (partitions <= 1) return 0;
  return int64_t{num_seqs} * num_heads * partitions * (head_dim + 2) *
         static_cast<int64_t>(sizeof(float));
}

namespace {

// The checked launch over either arena kind (Kv: DeviceKvArena<const T> or
// DeviceScaledKvArena<Code>); `kv` names the storage in errors.
template <typename T, typename Kv>
void decode_on(const T* q, int64_t q_stride, const KvSeqView& seqs, int32_t max_context,
               const Kv& arena, int32_t num_heads, T* out, int64_t out_stride,
               DeviceBuffer& workspace, cudaStream_t stream, DecodeOptions options,
               const char* kv) {
  check_heads("decode_attention", num_heads, arena.num_kv_heads, arena.head_dim);
  check_invariant(seqs.num_seqs >= 0 && seqs.num_seqs <= 65535,
                  "decode_attention: batch of " + std::to_string(seqs.num_seqs) +
                      " outside 0..65535 (the grid's y dimension)");
  if (seqs.num_seqs == 0) return;
  check_invariant(max_context >= 1, "decode_attention: max_context " + std::to_string(max_context) +
                                        " (contexts must be >= 1)");
  check_invariant(options.partition_tokens > 0, "decode_attention: partition_tokens must be > 0");
  const int64_t width = int64_t{num_heads} * arena.head_dim;
  check_invariant(q_stride >= width && out_stride >= width,
                  "decode_attention: q/out rows narrower than num_heads * head_dim");

  DecodeAlgorithm algorithm = options.algorithm;
  if (algorithm == DecodeAlgorithm::kAuto) {
    algorithm =
        choose_decode_algorithm(seqs.num_seqs, num_heads, max_context, options.partition_tokens);
  }
  DecodeArgs<T, Kv> a;
  a.q = q;
  a.q_stride = q_stride;
  a.out = out;
  a.out_stride = out_stride;
  a.seqs = to_device(seqs);
  a.arena = arena;
  a.num_heads = num_heads;
  a.head_dim = arena.head_dim;
  a.scale = softmax_scale(arena.head_dim);
  a.vectorized = vector_aligned(q, q_stride, arena);
  if (algorithm == DecodeAlgorithm::kOnePass) {
    a.partition_tokens = max_context;
    a.num_partitions = 1;
  } else {
    a.partition_tokens = options.partition_tokens;
    a.num_partitions =
        static_cast<int32_t>((int64_t{max_context} + a.partition_tokens - 1) / a.partition_tokens);
  }
  // The reduction keeps one weight per partition in (default-sized) shared memory; the grid's
  // z dimension (num_partitions) is far below its 65535 limit then.
  check_invariant(decode_reduce_shared_bytes(a.num_partitions) <= kDefaultSharedBytes,
                  "decode_attention: " + std::to_string(a.num_partitions) +
                      " partitions; raise partition_tokens");
  if (a.num_partitions > 1) {
    const int64_t blocks = int64_t{seqs.num_seqs} * num_heads * a.num_partitions;
    workspace.reserve(static_cast<size_t>(blocks * (arena.head_dim + 2)) * sizeof(float));
    a.partial_acc = workspace.as<float>();
    a.partial_max = a.partial_acc + blocks * arena.head_dim;
    a.partial_sum = a.partial_max + blocks;
  }
  check_cuda(launch_decode_attention(a, stream),
             std::string("decode_attention (") + to_string(algorithm) + ", head_dim " +
                 std::to_string(arena.head_dim) + ", " + dtype_name(dtype_of<T>()) + ", " + kv +
                 ")");
}

template <typename T, typename Kv>
void prefill_on(const T* q, int64_t q_stride, const int32_t* query_indptr, int32_t max_q_len,
                const KvSeqView& seqs, const Kv& arena, int32_t num_heads, T* out,
                int64_t out_stride, cudaStream_t stream, const char* kv) {
  check_heads("prefill_attention", num_heads, arena.num_kv_heads, arena.head_dim);
  check_invariant(seqs.num_seqs >= 0 && seqs.num_seqs <= 65535 && max_q_len >= 0,
                  "prefill_attention: batch of " + std::to_string(seqs.num_seqs) +
                      " outside 0..65535 (the grid's z dimension) or negative max_q_len");
  check_invariant(num_heads <= 65535, "prefill_attention: " + std::to_string(num_heads) +
                                          " heads exceed the grid's y dimension (65535)");
  if (seqs.num_seqs == 0 || max_q_len == 0) return;
  const int64_t width = int64_t{num_heads} * arena.head_dim;
  check_invariant(q_stride >= width && out_stride >= width,
                  "prefill_attention: q/out rows narrower than num_heads * head_dim");
  PrefillArgs<T, Kv> a;
  a.q = q;
  a.q_stride = q_stride;
  a.out = out;
  a.out_stride = out_stride;
  a.query_indptr = query_indptr;
  a.seqs = to_device(seqs);
  a.arena = arena;
  a.num_heads = num_heads;
  a.head_dim = arena.head_dim;
  a.scale = softmax_scale(arena.head_dim);
  a.max_q_len = max_q_len;
  check_cuda(launch_prefill_attention(a, stream),
             "prefill_attention (head_dim " + std::to_string(arena.head_dim) + ", " +
                 dtype_name(dtype_of<T>()) + ", " + kv + ", " +
                 std::to_string(prefill_shared_bytes(arena.head_dim)) + " bytes of shared memory)");
}

}  // namespace

template <typename T>
void decode_attention(const T* q, int64_t q_stride, const KvSeqView& seqs, int32_t max_context,
                      const KvArenaView<const T>& arena, int32_t num_heads, T* out,
                      int64_t out_stride, DeviceBuffer& workspace, cudaStream_t stream,
                      DecodeOptions options) {
  decode_on(q, q_stride, seqs, max_context, to_device(arena), num_heads, out, out_stride,
            workspace, stream, options, "K/V unquantized");
}

template <typename T>
void decode_attention(const T* q, int64_t q_stride, const KvSeqView& seqs, int32_t max_context,
                      const ScaledKvLayer& arena, int32_t num_heads, T* out, int64_t out_stride,
                      DeviceBuffer& workspace, cudaStream_t stream, DecodeOptions options) {
  arena.with_code([&](const auto& typed) {
    decode_on(q, q_stride, seqs, max_context, typed, num_heads, out, out_stride, workspace,
              stream, options, kv_name(arena.format));
  });
}

template <typename T>
void prefill_attention(const T* q, int64_t q_stride, const int32_t* query_indptr, int32_t max_q_len,
                       const KvSeqView& seqs, const KvArenaView<const T>& arena, int32_t num_heads,
                       T* out, int64_t out_stride, cudaStream_t stream) {
  prefill_on(q, q_stride, query_indptr, max_q_len, seqs, to_device(arena), num_heads, out,
             out_stride, stream, "K/V unquantized");
}

template <typename T>
void prefill_attention(const T* q, int64_t q_stride, const int32_t* query_indptr, int32_t max_q_len,
                       const KvSeqView& seqs, const ScaledKvLayer& arena, int32_t num_heads, T* out,
                       int64_t out_stride, cudaStream_t stream) {
  arena.with_code([&](const auto& typed) {
    prefill_on(q, q_stride, query_indptr, max_q_len, seqs, typed, num_heads, out, out_stride,
               stream, kv_name(arena.format));
  });
}

#define KVLAB_INSTANTIATE_ATTENTION(T)                                                             \
  template void decode_attention<T>(const T*, int64_t, const KvSeqView&, int32_t,                  \
                                    const KvArenaView<const T>&, int32_t, T*, int64_t,             \
                                    DeviceBuffer&, cudaStream_t, DecodeOptions);                   \
  template void prefill_attention<T>(const T*, int64_t, const int32_t*, int32_t, const KvSeqView&, \
                                     const KvArenaView<const T>&, int32_t, T*, int64_t,            \
                                     cudaStream_t);                                                \
  template void decode_attention<T>(const T*, int64_t, const KvSeqView&, int32_t,                  \
                                    const ScaledKvLayer&, int32_t, T*, int64_t, DeviceBuffer&,     \
                                    cudaStream_t, DecodeOptions);                                  \
  template void prefill_attention<T>(const T*, int64_t, const int32_t*, int32_t, const KvSeqView&, \
                                     const ScaledKvLayer&, int32_t, T*, int64_t, cudaStream_t);

KVLAB_INSTANTIATE_ATTENTION(float)
KVLAB_INSTANTIATE_ATTENTION(__half)
KVLAB_INSTANTIATE_ATTENTION(__nv_bfloat16)

}  // namespace kvlab::cuda
