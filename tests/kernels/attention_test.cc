// Decode and prefill attention through the KV-cache view against a dense reference: across
// block sizes 1, 2, 16, 128 with shuffled blocks and contiguous regions, odd lengths, GQA
// ratios 1, 2, 4, and chunked prefill (chunks of 1, 7, 64 equal one pass). Every slot the
// kernels must not read holds NaN, so a stray read shows up as a NaN output.
#include "kernels/cpu/attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "core/errors.h"
#include "kernels/cpu/cache_write.h"
#include "kernels/cpu/kv_cache.h"
#include "kernels/kv_cache_view.h"
#include "tests/kernels/kernel_test_util.h"

namespace kvlab::cpu {
namespace {

using testing::LayoutAllocator;
using testing::naive_attention;
using testing::random_matrix;

constexpr int kKvHeads = 2;
constexpr int kHeadDim = 16;
constexpr int64_t kArenaSlots = 2048;
constexpr float kTolerance = 2e-5f;
const std::vector<int32_t> kLengths = {1, 5, 17, 64, 151};

// block_size 0 stands for contiguous.
struct Case {
  int32_t block_size;
  int32_t gqa_ratio;
};

std::string case_name(const ::testing::TestParamInfo<std::tuple<int32_t, int32_t>>& info) {
  const int32_t bs = std::get<0>(info.param);
  return (bs == 0 ? std::string("contiguous") : "paged" + std::to_string(bs)) + "_gqa" +
         std::to_string(std::get<1>(info.param));
}

// Sequences with dense K, V and queries for every position, and their layouts in one arena.
struct Fixture {
  uint64_t seed;
  int num_heads;
  std::vector<RowMatrix> k, v, q;  // per sequence: [len][kv_heads * d], [len][heads * d]
  std::vector<KvLayout> layouts;
  CpuKvCache cache{1, kArenaSlots, kKvHeads, kHeadDim};

  Fixture(int32_t block_size, int32_t ratio, uint64_t seed)
      : seed(seed), num_heads(kKvHeads * ratio) {
    std::mt19937_64 rng(seed);
    LayoutAllocator alloc = block_size == 0
                                ? LayoutAllocator::contiguous(kArenaSlots)
                                : LayoutAllocator::paged(block_size, kArenaSlots, true, seed);
    for (int32_t len : kLengths) {
      k.push_back(random_matrix(len, kKvHeads * kHeadDim, rng));
      v.push_back(random_matrix(len, kKvHeads * kHeadDim, rng));
      q.push_back(random_matrix(len, num_heads * kHeadDim, rng));
      layouts.push_back(alloc.allocate(len));
    }
    cache.fill(std::numeric_limits<float>::quiet_NaN());
  }
  size_t size() const { return kLengths.size(); }
  int32_t len(size_t i) const { return kLengths[i]; }

  // Writes tokens [begin, end) of sequence i into the cache.
  void write(size_t i, int32_t begin, int32_t end) {
    std::vector<int64_t> slots;
    append_slot_mapping(layouts[i], begin, end - begin, slots);
    write_kv(k[i].middleRows(begin, end - begin), v[i].middleRows(begin, end - begin), slots,
             cache.layer(0));
  }
  void write_all() {
    for (size_t i = 0; i < size(); ++i) write(i, 0, len(i));
  }
  // The dense reference for queries [first_pos, end) of sequence i: rows of the whole
  // prompt's causal attention (a query at position p only sees keys 0..p, so rows of the
  // full pass are the reference for any chunk or decode), computed once per data set.
  RowMatrix reference(size_t i, int32_t first_pos, int32_t end) const {
    static std::map<std::pair<uint64_t, int>, std::vector<RowMatrix>> cache;
    std::vector<RowMatrix>& full = cache[{seed, num_heads}];
    if (full.empty()) {
      for (size_t s = 0; s < size(); ++s) {
        full.push_back(naive_attention(q[s], k[s], v[s], num_heads, kKvHeads, kHeadDim, 0));
      }
    }
    return full[i].middleRows(first_pos, end - first_pos);
  }
};

float max_abs_diff(const RowMatrix& a, const RowMatrix& b) {
  EXPECT_EQ(a.rows(), b.rows());
  EXPECT_EQ(a.cols(), b.cols());
  EXPECT_TRUE(a.allFinite()) << "a kernel read a slot it must not read";
  return (a - b).cwiseAbs().maxCoeff();
}

class AttentionTest : public ::testing::TestWithParam<std::tuple<int32_t, int32_t>> {
 protected:
  int32_t block_size() const { return std::get<0>(GetParam()); }
  int32_t ratio() const { return std::get<1>(GetParam()); }
};

TEST_P(AttentionTest, DecodeMatchesDenseReference) {
  Fixture f(block_size(), ratio(), 11);
  f.write_all();
  // Each sequence's last token queries its whole context, all sequences in one batch.
  RowMatrix q(static_cast<Eigen::Index>(f.size()), f.num_heads * kHeadDim);
  for (size_t i = 0; i < f.size(); ++i) q.row(Eigen::Index(i)) = f.q[i].row(f.len(i) - 1);
  const KvBatchTables tables = KvBatchTables::build(f.layouts, kLengths, kArenaSlots);
  RowMatrix out(q.rows(), q.cols());
  decode_attention(q, tables.view(), f.cache.layer(0), f.num_heads, out);
  for (size_t i = 0; i < f.size(); ++i) {
    SCOPED_TRACE("length " + std::to_string(f.len(i)));
    EXPECT_LT(max_abs_diff(out.row(Eigen::Index(i)), f.reference(i, f.len(i) - 1, f.len(i))),
              kTolerance);
  }
}

TEST_P(AttentionTest, DecodeAtEveryPositionOfOneSequence) {
  // A growing context: position p attends 0..p (only slots written so far hold numbers).
  Fixture f(block_size(), ratio(), 12);
  const size_t i = 4;  // 151 tokens: crosses a block boundary for every block size
  for (int32_t p = 0; p < f.len(i); ++p) {
    f.write(i, p, p + 1);
    const KvBatchTables tables = KvBatchTables::build({f.layouts[i]}, {p + 1}, kArenaSlots);
    RowMatrix out(1, f.num_heads * kHeadDim);
    decode_attention(f.q[i].row(p), tables.view(), f.cache.layer(0), f.num_heads, out);
    ASSERT_LT(max_abs_diff(out, f.reference(i, p, p + 1)), kTolerance) << "position " << p;
  }
}

TEST_P(AttentionTest, PrefillOnePassMatchesDenseReference) {
  Fixture f(block_size(), ratio(), 13);
  f.write_all();
  RowMatrix q(0, f.num_heads * kHeadDim);
  std::vector<int32_t> indptr = {0};
  for (size_t i = 0; i < f.size(); ++i) {
    q.conservativeResize(q.rows() + f.len(i), Eigen::NoChange);
    q.bottomRows(f.len(i)) = f.q[i];
    indptr.push_back(static_cast<int32_t>(q.rows()));
  }
  const KvBatchTables tables = KvBatchTables::build(f.layouts, kLengths, kArenaSlots);
  RowMatrix out(q.rows(), q.cols());
  prefill_attention(q, indptr, tables.view(), f.cache.layer(0), f.num_heads, out);
  for (size_t i = 0; i < f.size(); ++i) {
    SCOPED_TRACE("length " + std::to_string(f.len(i)));
    EXPECT_LT(max_abs_diff(out.middleRows(indptr[i], f.len(i)), f.reference(i, 0, f.len(i))),
              kTolerance);
  }
}

TEST_P(AttentionTest, ChunkedPrefillEqualsOnePass) {
  for (int32_t chunk : {1, 7, 64}) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    Fixture f(block_size(), ratio(), 14);
    // All sequences advance chunk by chunk in the same batches; the K/V of a chunk is written
    // just before its queries run, so later positions still hold NaN.
    std::vector<RowMatrix> outs;
    for (size_t i = 0; i < f.size(); ++i) outs.emplace_back(f.len(i), f.num_heads * kHeadDim);
    for (int32_t begin = 0; begin < kLengths.back(); begin += chunk) {
      std::vector<KvLayout> layouts;
      std::vector<int32_t> contexts, indptr = {0};
      std::vector<size_t> members;
      RowMatrix q(0, f.num_heads * kHeadDim);
      for (size_t i = 0; i < f.size(); ++i) {
        if (begin >= f.len(i)) continue;
        const int32_t end = std::min(begin + chunk, f.len(i));
        f.write(i, begin, end);
        q.conservativeResize(q.rows() + (end - begin), Eigen::NoChange);
        q.bottomRows(end - begin) = f.q[i].middleRows(begin, end - begin);
        layouts.push_back(f.layouts[i]);
        contexts.push_back(end);
        indptr.push_back(static_cast<int32_t>(q.rows()));
        members.push_back(i);
      }
      const KvBatchTables tables = KvBatchTables::build(layouts, contexts, kArenaSlots);
      RowMatrix out(q.rows(), q.cols());
      prefill_attention(q, indptr, tables.view(), f.cache.layer(0), f.num_heads, out);
      for (size_t m = 0; m < members.size(); ++m) {
        outs[members[m]].middleRows(begin, indptr[m + 1] - indptr[m]) =
            out.middleRows(indptr[m], indptr[m + 1] - indptr[m]);
      }
    }
    for (size_t i = 0; i < f.size(); ++i) {
      EXPECT_LT(max_abs_diff(outs[i], f.reference(i, 0, f.len(i))), kTolerance)
          << "length " << f.len(i);
    }
  }
}

TEST_P(AttentionTest, PagedAndContiguousAgree) {
  // Same data, two layouts: the outputs agree to float rounding.
  Fixture paged(block_size() == 0 ? 16 : block_size(), ratio(), 15);
  Fixture contiguous(0, ratio(), 15);
  paged.write_all();
  contiguous.write_all();
  for (size_t i = 0; i < paged.size(); ++i) {
    const int32_t len = paged.len(i);
    RowMatrix out_p(len, paged.num_heads * kHeadDim), out_c(len, paged.num_heads * kHeadDim);
    const std::vector<int32_t> indptr = {0, len};
    prefill_attention(paged.q[i], indptr, KvBatchTables::build({paged.layouts[i]}, {len}).view(),
                      paged.cache.layer(0), paged.num_heads, out_p);
    prefill_attention(contiguous.q[i], indptr,
                      KvBatchTables::build({contiguous.layouts[i]}, {len}).view(),
                      contiguous.cache.layer(0), contiguous.num_heads, out_c);
    EXPECT_LT(max_abs_diff(out_p, out_c), 1e-5f);
  }
}

TEST_P(AttentionTest, DecodeEqualsOneTokenPrefill) {
  Fixture f(block_size(), ratio(), 16);
  f.write_all();
  const KvBatchTables tables = KvBatchTables::build(f.layouts, kLengths, kArenaSlots);
  RowMatrix q(static_cast<Eigen::Index>(f.size()), f.num_heads * kHeadDim);
  std::vector<int32_t> indptr = {0};
  for (size_t i = 0; i < f.size(); ++i) {
    q.row(Eigen::Index(i)) = f.q[i].row(f.len(i) - 1);
    indptr.push_back(static_cast<int32_t>(i + 1));
  }
  RowMatrix decode(q.rows(), q.cols()), prefill(q.rows(), q.cols());
  decode_attention(q, tables.view(), f.cache.layer(0), f.num_heads, decode);
  prefill_attention(q, indptr, tables.view(), f.cache.layer(0), f.num_heads, prefill);
  EXPECT_LT(max_abs_diff(decode, prefill), 1e-5f);
}

INSTANTIATE_TEST_SUITE_P(Layouts, AttentionTest,
                         ::testing::Combine(::testing::Values(0, 1, 2, 16, 128),
                                            ::testing::Values(1, 2, 4)),
                         case_name);

TEST(Attention, WritesIntoAColumnSliceOfAWiderOutput) {
  // The model passes blocks of wider matrices; outer strides must be honoured.
  Fixture f(16, 2, 17);
  f.write_all();
  const size_t i = 2;
  const int32_t len = f.len(i);
  const int width = f.num_heads * kHeadDim;
  RowMatrix wide_q = RowMatrix::Constant(len, width + 10, 99.0f);
  wide_q.middleCols(4, width) = f.q[i];
  RowMatrix wide_out = RowMatrix::Constant(len, width + 6, -5.0f);
  const std::vector<int32_t> indptr = {0, len};
  prefill_attention(wide_q.middleCols(4, width), indptr,
                    KvBatchTables::build({f.layouts[i]}, {len}).view(), f.cache.layer(0),
                    f.num_heads, wide_out.middleCols(3, width));
  EXPECT_LT(max_abs_diff(wide_out.middleCols(3, width), f.reference(i, 0, len)), kTolerance);
  EXPECT_TRUE((wide_out.leftCols(3).array() == -5.0f).all());
  EXPECT_TRUE((wide_out.rightCols(3).array() == -5.0f).all());
}

TEST(Attention, RejectsMismatchedShapes) {
  Fixture f(16, 2, 18);
  f.write_all();
  const KvBatchTables tables = KvBatchTables::build(f.layouts, kLengths);
  RowMatrix q(static_cast<Eigen::Index>(f.size()), 3 * kHeadDim);  // 3 heads over 2 KV heads
  RowMatrix out(q.rows(), q.cols());
  EXPECT_THROW(decode_attention(q, tables.view(), f.cache.layer(0), 3, out), InvariantError);
  RowMatrix q4(2, 4 * kHeadDim), out4(2, 4 * kHeadDim);
  const std::vector<int32_t> too_many = {0, 2};  // 2 queries over a 1-token context
  EXPECT_THROW(prefill_attention(q4, too_many, KvBatchTables::build({f.layouts[0]}, {1}).view(),
                                 f.cache.layer(0), 4, out4),
               InvariantError);
}

}  // namespace
}  // namespace kvlab::cpu
