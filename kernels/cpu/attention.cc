#include "kernels/cpu/attention.h"

#include <cmath>
#include <string>

#include "core/errors.h"

namespace kvlab::cpu {

namespace {

// The KV cache's shape as attention sees it.
struct KvShape {
  int32_t num_kv_heads;
  int32_t head_dim;
};

void check_heads(const KvSeqView& seqs, KvShape arena, int32_t num_heads, const MatrixCRef& q,
                 const MatrixRef& out, const char* who) {
  check_invariant(arena.num_kv_heads > 0 && num_heads > 0 && num_heads % arena.num_kv_heads == 0,
                  std::string(who) + ": " + std::to_string(num_heads) +
                      " query heads do not split over " + std::to_string(arena.num_kv_heads) +
                      " KV heads");
  const Eigen::Index width = static_cast<Eigen::Index>(num_heads) * arena.head_dim;
  check_invariant(q.cols() == width && out.cols() == width && out.rows() == q.rows(),
                  std::string(who) + ": q/out shape mismatch");
  check_invariant(seqs.num_seqs >= 0, std::string(who) + ": negative batch");
}

// K and V of one KV head over tokens [0, num_tokens) of one sequence, as [num_tokens][head_dim]
// matrices. When the tokens sit in one run of slots (contiguous layout, or paged blocks that
// happen to be adjacent) the maps point straight into the arena; otherwise the rows are
// gathered run by run into the scratch buffers, so the GEMMs below always see one matrix.
struct HeadKv {
  ConstStridedMatrixMap k;
  ConstStridedMatrixMap v;
};

HeadKv gather_head_kv(const KvSeqView& seqs, int32_t seq, int64_t num_tokens,
                      const KvArenaView<const float>& arena, int32_t kv_head, RowMatrix& k_buf,
                      RowMatrix& v_buf) {
  const Eigen::Index d = arena.head_dim;
  int runs = 0;
  int64_t first_slot = 0;
  for_each_slot_run(seqs, seq, num_tokens, [&](int64_t, int64_t slot, int64_t) {
    if (runs++ == 0) first_slot = slot;
  });
  const Eigen::OuterStride<> arena_stride(arena.slot_stride);
  if (runs == 1) {
    return HeadKv{
        ConstStridedMatrixMap(arena.k_at(first_slot, kv_head), num_tokens, d, arena_stride),
        ConstStridedMatrixMap(arena.v_at(first_slot, kv_head), num_tokens, d, arena_stride)};
  }
  k_buf.resize(num_tokens, d);
  v_buf.resize(num_tokens, d);
  for_each_slot_run(seqs, seq, num_tokens, [&](int64_t token, int64_t slot, int64_t count) {
    k_buf.middleRows(token, count) =
        ConstStridedMatrixMap(arena.k_at(slot, kv_head), count, d, arena_stride);
    v_buf.middleRows(token, count) =
        ConstStridedMatrixMap(arena.v_at(slot, kv_head), count, d, arena_stride);
  });
  const Eigen::OuterStride<> dense_stride(d);
  return HeadKv{ConstStridedMatrixMap(k_buf.data(), num_tokens, d, dense_stride),
                ConstStridedMatrixMap(v_buf.data(), num_tokens, d, dense_stride)};
}

// The same from a layer stored quantized: always gathered, each (token, KV head) vector
// dequantized (dequantize_kv, with its scale) into the scratch buffers.
HeadKv dequantize_head_kv(const KvSeqView& seqs, int32_t seq, int64_t num_tokens,
                          const KvLayerStore& store, int32_t kv_head, RowMatrix& k_buf,
                          RowMatrix& v_buf) {
  const Eigen::Index d = store.head_dim;
  k_buf.resize(num_tokens, d);
  v_buf.resize(num_tokens, d);
  for_each_slot_run(seqs, seq, num_tokens, [&](int64_t token, int64_t slot, int64_t count) {
    for (int64_t j = 0; j < count; ++j) {
      dequantize_kv(store.dtype, store.k_at(slot + j, kv_head), store.k_scale_at(slot + j, kv_head),
                    store.head_dim, k_buf.row(token + j).data());
      dequantize_kv(store.dtype, store.v_at(slot + j, kv_head), store.v_scale_at(slot + j, kv_head),
                    store.head_dim, v_buf.row(token + j).data());
    }
  });
  const Eigen::OuterStride<> dense_stride(d);
  return HeadKv{ConstStridedMatrixMap(k_buf.data(), num_tokens, d, dense_stride),
                ConstStridedMatrixMap(v_buf.data(), num_tokens, d, dense_stride)};
}

// Turns each row of `scores` into softmax probabilities over its first `valid` columns and
// zeroes the masked rest. Causal: row r is the query r tokens after the first one, and sees
// first_valid + r keys (first_valid = columns - rows + 1 for a chunk that ends at the last
// key). Not causal: every row sees first_valid keys (a decode's group of query heads).
void masked_softmax_rows(RowMatrix& scores, Eigen::Index first_valid, bool causal) {
  for (Eigen::Index r = 0; r < scores.rows(); ++r) {
    const Eigen::Index valid = causal ? first_valid + r : first_valid;
    auto row = scores.row(r);
    auto kept = row.head(valid).array();
    kept -= kept.maxCoeff();
    kept = kept.exp();
    kept /= kept.sum();
    row.tail(scores.cols() - valid).setZero();
  }
}

float softmax_scale(int32_t head_dim) {
  return static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim)));
}

// `gather(seq, num_tokens, kv_head, k_buf, v_buf)` returns a sequence's K and V of one KV head
// (gather_head_kv or dequantize_head_kv).
template <typename Gather>
void decode_impl(const MatrixCRef& q, const KvSeqView& seqs, KvShape arena, int32_t num_heads,
                 MatrixRef out, const Gather& gather) {
  check_heads(seqs, arena, num_heads, q, out, "decode_attention");
  check_invariant(q.rows() == seqs.num_seqs, "decode_attention: one query row per sequence");
  const int32_t group = num_heads / arena.num_kv_heads;
  const Eigen::Index d = arena.head_dim;
  const float scale = softmax_scale(arena.head_dim);
  RowMatrix k_buf, v_buf, scores;
  for (int32_t i = 0; i < seqs.num_seqs; ++i) {
    const int64_t context = seqs.context_lens[i];
    check_invariant(context >= 1,
                    "decode_attention: sequence " + std::to_string(i) + " has an empty context");
    for (int32_t g = 0; g < arena.num_kv_heads; ++g) {
      const HeadKv kv = gather(i, context, g, k_buf, v_buf);
      // The group's query heads are adjacent in the row: a [group][head_dim] matrix.
      const Eigen::Map<const RowMatrix> q_group(q.data() + i * q.outerStride() + g * group * d,
                                                group, d);
      Eigen::Map<RowMatrix> out_group(out.data() + i * out.outerStride() + g * group * d, group, d);
      scores.noalias() = (q_group * kv.k.transpose()) * scale;
      masked_softmax_rows(scores, scores.cols(), /*causal=*/false);
      out_group.noalias() = scores * kv.v;
    }
  }
}

template <typename Gather>
void prefill_impl(const MatrixCRef& q, std::span<const int32_t> query_indptr, const KvSeqView& seqs,
                  KvShape arena, int32_t num_heads, MatrixRef out, const Gather& gather) {
  check_heads(seqs, arena, num_heads, q, out, "prefill_attention");
  check_invariant(static_cast<int64_t>(query_indptr.size()) == int64_t{seqs.num_seqs} + 1 &&
                      query_indptr.front() == 0 && query_indptr.back() == q.rows(),
                  "prefill_attention: query_indptr does not cover q");
  const int32_t group = num_heads / arena.num_kv_heads;
  const Eigen::Index d = arena.head_dim;
  const float scale = softmax_scale(arena.head_dim);
  const Eigen::OuterStride<> q_stride(q.outerStride());
  const Eigen::OuterStride<> out_stride(out.outerStride());
  RowMatrix k_buf, v_buf, scores;
  for (int32_t i = 0; i < seqs.num_seqs; ++i) {
    const int32_t first_row = query_indptr[static_cast<size_t>(i)];
    const int32_t q_len = query_indptr[static_cast<size_t>(i) + 1] - first_row;
    const int64_t context = seqs.context_lens[i];
    check_invariant(q_len >= 0 && q_len <= context,
                    "prefill_attention: sequence " + std::to_string(i) + " has " +
                        std::to_string(q_len) + " queries over a context of " +
                        std::to_string(context));
    if (q_len == 0) continue;
    for (int32_t g = 0; g < arena.num_kv_heads; ++g) {
      const HeadKv kv = gather(i, context, g, k_buf, v_buf);
      for (int32_t h = g * group; h < (g + 1) * group; ++h) {
        // One head's queries for the chunk: rows of q, head_dim wide, one q row apart.
        const ConstStridedMatrixMap q_head(q.data() + first_row * q.outerStride() + h * d, q_len, d,
                                           q_stride);
        StridedMatrixMap out_head(out.data() + first_row * out.outerStride() + h * d, q_len, d,
                                  out_stride);
        scores.noalias() = (q_head * kv.k.transpose()) * scale;
        masked_softmax_rows(scores, context - q_len + 1, /*causal=*/true);
        out_head.noalias() = scores * kv.v;
      }
    }
  }
}

}  // namespace

void decode_attention(const MatrixCRef& q, const KvSeqView& seqs,
                      const KvArenaView<const float>& arena, int32_t num_heads, MatrixRef out) {
  decode_impl(q, seqs, KvShape{arena.num_kv_heads, arena.head_dim}, num_heads, out,
              [&](int32_t seq, int64_t n, int32_t g, RowMatrix& k_buf, RowMatrix& v_buf) {
                return gather_head_kv(seqs, seq, n, arena, g, k_buf, v_buf);
              });
}

void decode_attention(const MatrixCRef& q, const KvSeqView& seqs, const KvLayerStore& store,
                      int32_t num_heads, MatrixRef out) {
  if (store.dtype == KvDtype::kFp32) {
    decode_attention(q, seqs, store.as_fp32().as_const(), num_heads, out);
    return;
  }
  decode_impl(q, seqs, KvShape{store.num_kv_heads, store.head_dim}, num_heads, out,
              [&](int32_t seq, int64_t n, int32_t g, RowMatrix& k_buf, RowMatrix& v_buf) {
                return dequantize_head_kv(seqs, seq, n, store, g, k_buf, v_buf);
              });
}

void prefill_attention(const MatrixCRef& q, std::span<const int32_t> query_indptr,
                       const KvSeqView& seqs, const KvArenaView<const float>& arena,
                       int32_t num_heads, MatrixRef out) {
  prefill_impl(q, query_indptr, seqs, KvShape{arena.num_kv_heads, arena.head_dim}, num_heads, out,
               [&](int32_t seq, int64_t n, int32_t g, RowMatrix& k_buf, RowMatrix& v_buf) {
                 return gather_head_kv(seqs, seq, n, arena, g, k_buf, v_buf);
               });
}

void prefill_attention(const MatrixCRef& q, std::span<const int32_t> query_indptr,
                       const KvSeqView& seqs, const KvLayerStore& store, int32_t num_heads,
                       MatrixRef out) {
  if (store.dtype == KvDtype::kFp32) {
    prefill_attention(q, query_indptr, seqs, store.as_fp32().as_const(), num_heads, out);
    return;
  }
  prefill_impl(q, query_indptr, seqs, KvShape{store.num_kv_heads, store.head_dim}, num_heads, out,
               [&](int32_t seq, int64_t n, int32_t g, RowMatrix& k_buf, RowMatrix& v_buf) {
                 return dequantize_head_kv(seqs, seq, n, store, g, k_buf, v_buf);
               });
}

}  // namespace kvlab::cpu
