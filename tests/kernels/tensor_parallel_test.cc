// Tensor parallelism on the CPU: the shared-memory collectives (kernels/cpu/collective.h), the
// rank threads (kernels/cpu/rank_threads.h), the split (kernels/model/tensor_parallel.h), and
// the families' sharded forward, whose logits are bit for bit those of one rank.
#include "kernels/model/tensor_parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <vector>

#include "core/errors.h"
#include "kernels/cpu/collective.h"
#include "kernels/cpu/rank_threads.h"
#include "kernels/model/decoder_model.h"
#include "tests/kernels/kernel_test_util.h"
#include "tests/kernels/model_test_util.h"

namespace kvlab {
namespace {

using cpu::RowMatrix;

// A matrix whose entries differ by rank and position, with values whose sums round.
RowMatrix rank_matrix(int32_t rank, Eigen::Index rows, Eigen::Index cols) {
  RowMatrix m(rows, cols);
  for (Eigen::Index i = 0; i < rows; ++i) {
    for (Eigen::Index j = 0; j < cols; ++j) {
      m(i, j) = 0.1f * static_cast<float>(rank + 1) + 1e-3f * static_cast<float>(i * cols + j) +
                (rank == 2 ? 1e7f : 0.0f);
    }
  }
  return m;
}

TEST(SharedMemoryGroup, AllReduceAddsInRankOrderAndEveryRankGetsTheSameBits) {
  for (const int32_t n : {1, 2, 3, 4}) {
    cpu::SharedMemoryGroup group(n);
    cpu::RankThreads threads(n);
    std::vector<RowMatrix> buffers;
    for (int32_t r = 0; r < n; ++r) buffers.push_back(rank_matrix(r, 5, 7));
    RowMatrix expected = buffers[0];
    for (int32_t r = 1; r < n; ++r) expected += buffers[static_cast<size_t>(r)];
    threads.run([&](int32_t r) { group.rank(r).all_reduce_sum(buffers[static_cast<size_t>(r)]); });
    for (int32_t r = 0; r < n; ++r) {
      EXPECT_TRUE(buffers[static_cast<size_t>(r)] == expected) << n << " ranks, rank " << r;
    }
    EXPECT_GE(group.rank(0).seconds(), 0.0);
  }
}

TEST(SharedMemoryGroup, AllGatherFillsEveryRanksColumnBlocks) {
  const int32_t n = 3;
  cpu::SharedMemoryGroup group(n);
  cpu::RankThreads threads(n);
  const std::vector<Eigen::Index> offsets = {0, 4, 4, 9};  // rank 1's block is empty
  const RowMatrix whole = rank_matrix(0, 3, 9);
  std::vector<RowMatrix> buffers(n, RowMatrix::Constant(3, 9, -1.0f));
  threads.run([&](int32_t r) {
    RowMatrix& b = buffers[static_cast<size_t>(r)];
    const Eigen::Index first = offsets[static_cast<size_t>(r)];
    const Eigen::Index cols = offsets[static_cast<size_t>(r) + 1] - first;
    b.middleCols(first, cols) = whole.middleCols(first, cols);
    group.rank(r).all_gather_columns(b, offsets);
  });
  for (const RowMatrix& b : buffers) EXPECT_TRUE(b == whole);
}

TEST(SharedMemoryGroup, MismatchedShapesAreRefusedOnEveryRank) {
  cpu::SharedMemoryGroup group(2);
  cpu::RankThreads threads(2);
  std::vector<RowMatrix> buffers = {RowMatrix::Zero(2, 3), RowMatrix::Zero(3, 3)};
  std::atomic<int> refused = 0;
  threads.run([&](int32_t r) {
    try {
      group.rank(r).all_reduce_sum(buffers[static_cast<size_t>(r)]);
    } catch (const InvariantError&) {
      ++refused;
    }
  });
  EXPECT_EQ(refused, 2);
}

// A rank that fails before a collective does not leave the others waiting in it.
TEST(RankThreads, AFailedRankReleasesTheOthersAndItsErrorComesBack) {
  cpu::SharedMemoryGroup group(4);
  cpu::RankThreads threads(4);
  std::vector<RowMatrix> buffers(4, RowMatrix::Zero(2, 2));
  try {
    threads.run(
        [&](int32_t r) {
          if (r == 2) throw std::runtime_error("rank 2 failed");
          group.rank(r).all_reduce_sum(buffers[static_cast<size_t>(r)]);
        },
        [&] { group.abort(); });
    ADD_FAILURE() << "run() returned normally";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "rank 2 failed");
  }
  EXPECT_THROW(group.rank(0).all_reduce_sum(buffers[0]), cpu::CollectiveAborted);
  // The threads serve the next run.
  std::atomic<int> ran = 0;
  threads.run([&](int32_t) { ++ran; });
  EXPECT_EQ(ran, 4);
}

TEST(TensorParallelSplit, BlocksAreBalancedAndAligned) {
  EXPECT_EQ(split_columns(64, 4).offsets, (std::vector<Eigen::Index>{0, 16, 32, 48, 64}));
  EXPECT_EQ(split_columns(100, 4).offsets, (std::vector<Eigen::Index>{0, 25, 50, 75, 100}));
  EXPECT_EQ(split_columns(101, 4).offsets, (std::vector<Eigen::Index>{0, 32, 64, 96, 101}));
  EXPECT_EQ(split_columns(7, 1).offsets, (std::vector<Eigen::Index>{0, 7}));
  EXPECT_THROW(check_tensor_parallel(testing::tiny_llama_spec(), 4), InputError);  // 2 KV heads
  EXPECT_NO_THROW(check_tensor_parallel(testing::tiny_llama_spec(), 2));
}

// tiny-llama with 8 heads and 4 KV heads, and a vocabulary that 4 ranks split unevenly.
ModelSpec llama_8h() {
  ModelSpec s = testing::tiny_llama_spec();
  s.num_heads = 8;
  s.num_kv_heads = 4;
  s.head_dim = 8;
  s.vocab_size = 250;
  return s;
}

// The logits of a few steps (two prompts, a chunk, then decodes, over a paged layout) of
// `spec` split over `ranks` ranks.
std::vector<RowMatrix> sharded_logits(const ModelSpec& spec, int32_t ranks) {
  std::unique_ptr<cpu::SharedMemoryGroup> group;
  if (ranks > 1) group = std::make_unique<cpu::SharedMemoryGroup>(ranks);
  cpu::RankThreads threads(ranks);
  std::vector<std::unique_ptr<DecoderModel>> models(static_cast<size_t>(ranks));
  threads.run([&](int32_t r) {
    models[static_cast<size_t>(r)] = make_decoder_model(
        spec, DummyWeightSource(3),
        TpShard{.rank = r, .size = ranks, .comm = group ? &group->rank(r) : nullptr});
  });
  std::vector<cpu::CpuKvCache> caches;
  for (const auto& m : models) caches.push_back(m->make_kv_cache(512));
  testing::LayoutAllocator alloc = testing::LayoutAllocator::paged(8, 512, true);
  const KvLayout a = alloc.allocate(64), b = alloc.allocate(64);
  const std::vector<int32_t> pa = testing::random_prompt(37, spec.vocab_size, 1);
  const std::vector<int32_t> pb = testing::random_prompt(21, spec.vocab_size, 2);
  std::vector<std::vector<ForwardEntry>> steps;
  steps.push_back(
      {ForwardEntry{{pa.begin(), pa.begin() + 30}, 0, a, false}, ForwardEntry{pb, 0, b, true}});
  steps.push_back(
      {ForwardEntry{{pa.begin() + 30, pa.end()}, 30, a, true}, ForwardEntry{{17}, 21, b, true}});
  steps.push_back({ForwardEntry{{200}, 37, a, true}, ForwardEntry{{3}, 22, b, true}});
  steps.push_back({ForwardEntry{{9}, 38, a, true}});  // a single decode: a GEMV
  std::vector<RowMatrix> out;
  for (const auto& batch : steps) {
    std::vector<RowMatrix> per_rank(static_cast<size_t>(ranks));
    threads.run([&](int32_t r) {
      per_rank[static_cast<size_t>(r)] =
          models[static_cast<size_t>(r)]->forward(batch, caches[static_cast<size_t>(r)]);
    });
    for (const RowMatrix& m : per_rank) EXPECT_TRUE(m == per_rank[0]) << "ranks disagree";
    out.push_back(per_rank[0]);
  }
  return out;
}

TEST(TensorParallelModel, LogitsAreBitForBitThoseOfOneRank) {
  for (const ModelSpec& spec : {llama_8h(), testing::tiny_opt_spec()}) {
    const std::vector<RowMatrix> one = sharded_logits(spec, 1);
    for (const int32_t ranks : {2, 4}) {
      const std::vector<RowMatrix> split = sharded_logits(spec, ranks);
      ASSERT_EQ(split.size(), one.size());
      for (size_t s = 0; s < one.size(); ++s) {
        EXPECT_TRUE(split[s] == one[s])
            << spec.name << ", " << ranks << " ranks, step " << s << ": max difference "
            << (split[s] - one[s]).cwiseAbs().maxCoeff();
      }
    }
  }
}

TEST(TensorParallelModel, EachRankHoldsItsSliceAndCachesItsKvHeads) {
  const ModelSpec spec = llama_8h();
  cpu::SharedMemoryGroup group(4);
  const std::unique_ptr<DecoderModel> rank1 =
      make_decoder_model(spec, DummyWeightSource(3), TpShard{1, 4, &group.rank(1)});
  EXPECT_EQ(rank1->rank_spec().num_heads, 2);
  EXPECT_EQ(rank1->rank_spec().num_kv_heads, 1);
  EXPECT_EQ(rank1->make_kv_cache(16).num_kv_heads(), 1);
  EXPECT_EQ(rank1->spec().num_heads, 8);
}

}  // namespace
}  // namespace kvlab
