// Differential tests of the CUDA attention kernels against the CPU reference ops
// (kernels/cpu/attention.h) on the same KV data: decode (one pass and split-K) and prefill
// (whole prompts and chunks that follow earlier chunks), over paged layouts with block sizes
// 1, 16 and 128 (blocks shuffled) and contiguous layouts, GQA ratios 1 to 8, head dims 64
// and 128 (specialized kernels) and 16 and 80 (generic path), odd lengths, and every
// storage type. Unused arena slots hold NaN, so reading one fails the test. Paged and
// contiguous layouts holding the same tokens give bit-identical outputs. Skipped without a
// GPU.
#include "kernels/cpu/attention.h"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/cache_write.h"
#include "kernels/cuda/attention.h"
#include "tests/gpu/gpu_test_util.h"
#include "tests/kernels/kernel_test_util.h"

namespace kvlab {
namespace {

using gpu_testing::all_close;
using gpu_testing::device_copy;
using gpu_testing::DeviceArray;
using gpu_testing::rounded;
using testing::LayoutAllocator;
using testing::random_matrix;

struct Shape {
  int32_t num_heads;
  int32_t num_kv_heads;
  int32_t head_dim;
};

std::string describe(const Shape& s, int32_t block_size) {
  return std::to_string(s.num_heads) + " heads / " + std::to_string(s.num_kv_heads) +
         " kv heads, head_dim " + std::to_string(s.head_dim) + ", " +
         (block_size == 0 ? std::string("contiguous") : "block_size " + std::to_string(block_size));
}

// Sequences with their K/V in one arena (CPU fp32 copy and device copy, values rounded to T),
// laid out by `block_size` (0: contiguous).
template <typename T>
struct KvFixture {
  KvFixture(const Shape& shape, int32_t block_size, const std::vector<int32_t>& contexts,
            uint64_t seed)
      : cpu_cache(1, kArenaSlots, shape.num_kv_heads, shape.head_dim),
        gpu_cache(1, kArenaSlots, shape.num_kv_heads, shape.head_dim, cuda::dtype_of<T>(),
                  cuda::CudaKvCache::Memory::kDevice) {
    cpu_cache.fill(std::numeric_limits<float>::quiet_NaN());
    LayoutAllocator alloc = block_size == 0
                                ? LayoutAllocator::contiguous(kArenaSlots)
                                : LayoutAllocator::paged(block_size, kArenaSlots, true, seed);
    const Eigen::Index width = int64_t{shape.num_kv_heads} * shape.head_dim;
    for (size_t i = 0; i < contexts.size(); ++i) {
      layouts.push_back(alloc.allocate(contexts[i]));
      // Token t of sequence i gets the same K/V whatever the layout and the context length
      // (K and V from their own streams, seeded per sequence).
      std::mt19937_64 rng_k(seed * 1000 + 2 * i), rng_v(seed * 1000 + 2 * i + 1);
      const cpu::RowMatrix k = rounded<T>(random_matrix(contexts[i], width, rng_k));
      const cpu::RowMatrix v = rounded<T>(random_matrix(contexts[i], width, rng_v));
      std::vector<int64_t> slots;
      cpu::append_slot_mapping(layouts.back(), 0, contexts[i], slots);
      cpu::write_kv(k, v, slots, cpu_cache.layer(0));
    }
    gpu_testing::upload_cache<T>(cpu_cache, gpu_cache);
    tables = KvBatchTables::build(layouts, contexts, kArenaSlots);
    d_context = device_copy(tables.context_lens());
    d_indptr = device_copy(tables.block_indptr());
    d_indices = device_copy(tables.block_indices());
    d_base = device_copy(tables.base_slots());
  }

  // The view over the device copies of the tables.
  KvSeqView device_view() const {
    KvSeqView v = tables.view();
    v.context_lens = d_context.as<const int32_t>();
    v.block_indptr =
        tables.kind() == KvLayout::Kind::kPaged ? d_indptr.as<const int32_t>() : nullptr;
    v.block_indices =
        tables.kind() == KvLayout::Kind::kPaged ? d_indices.as<const int32_t>() : nullptr;
    v.base_slots =
        tables.kind() == KvLayout::Kind::kContiguous ? d_base.as<const int64_t>() : nullptr;
    return v;
  }

  static constexpr int64_t kArenaSlots = 8192;
  cpu::CpuKvCache cpu_cache;
  cuda::CudaKvCache gpu_cache;
  std::vector<KvLayout> layouts;
  KvBatchTables tables;
  cuda::DeviceBuffer d_context, d_indptr, d_indices, d_base;
};

const std::vector<Shape>& shapes() {
  static const std::vector<Shape> s = {{4, 4, 64},   {8, 2, 128}, {8, 1, 64},
                                       {32, 4, 128}, {4, 2, 16},  {6, 3, 80}};
  return s;
}

template <typename T>
class GpuAttention : public ::testing::Test {
 protected:
  void SetUp() override {
    KVLAB_REQUIRE_CUDA_DEVICE();
    stream_ = std::make_unique<cuda::CudaStream>();
  }
  cudaStream_t stream() const { return stream_->get(); }
  std::unique_ptr<cuda::CudaStream> stream_;
};

using StorageTypes = ::testing::Types<float, __half, __nv_bfloat16>;
TYPED_TEST_SUITE(GpuAttention, StorageTypes);

// Runs decode attention on the GPU for `fx` with `options`; returns the output as floats.
template <typename T>
cpu::RowMatrix gpu_decode(const KvFixture<T>& fx, const cpu::RowMatrix& q, const Shape& shape,
                          cuda::DecodeOptions options, cudaStream_t stream) {
  const Eigen::Index width = int64_t{shape.num_heads} * shape.head_dim;
  DeviceArray<T> dq(q), dout(q.rows() * width);
  cuda::DeviceBuffer workspace;
  int32_t max_context = 0;
  for (int32_t c : fx.tables.context_lens()) max_context = std::max(max_context, c);
  cuda::decode_attention(static_cast<const T*>(dq.data()), width, fx.device_view(), max_context,
                         fx.gpu_cache.template layer<T>(0).as_const(), shape.num_heads, dout.data(),
                         width, workspace, stream, options);
  return dout.to_matrix(q.rows(), width);
}

TYPED_TEST(GpuAttention, DecodeMatchesCpuOverLayoutsGqaAndAlgorithms) {
  using T = TypeParam;
  const std::vector<int32_t> contexts = {1, 7, 33, 100, 257, 700, 16, 129};
  for (const Shape& shape : shapes()) {
    for (int32_t block_size : {0, 1, 16, 128}) {
      SCOPED_TRACE(describe(shape, block_size));
      const KvFixture<T> fx(shape, block_size, contexts, 11);
      std::mt19937_64 rng(12);
      const Eigen::Index width = int64_t{shape.num_heads} * shape.head_dim;
      const cpu::RowMatrix q =
          rounded<T>(random_matrix(static_cast<Eigen::Index>(contexts.size()), width, rng));
      cpu::RowMatrix expected(q.rows(), width);
      cpu::decode_attention(q, fx.tables.view(), fx.cpu_cache.layer(0), shape.num_heads, expected);
      for (const cuda::DecodeOptions options :
           {cuda::DecodeOptions{cuda::DecodeAlgorithm::kOnePass, 512},
            cuda::DecodeOptions{cuda::DecodeAlgorithm::kSplitK, 64},
            cuda::DecodeOptions{cuda::DecodeAlgorithm::kSplitK, 512},
            cuda::DecodeOptions{cuda::DecodeAlgorithm::kAuto, 512}}) {
        SCOPED_TRACE(std::string(cuda::to_string(options.algorithm)) + ", partitions of " +
                     std::to_string(options.partition_tokens));
        const cpu::RowMatrix got = gpu_decode<T>(fx, q, shape, options, this->stream());
        EXPECT_TRUE(all_close(got, expected, gpu_testing::tolerance<T>()));
      }
    }
  }
}

TYPED_TEST(GpuAttention, DecodeIsBitIdenticalPagedAndContiguous) {
  using T = TypeParam;
  const std::vector<int32_t> contexts = {3, 64, 65, 1000, 2049};
  for (const Shape& shape : shapes()) {
    SCOPED_TRACE(describe(shape, 16));
    const KvFixture<T> paged(shape, 16, contexts, 21), contiguous(shape, 0, contexts, 21);
    std::mt19937_64 rng(22);
    const cpu::RowMatrix q =
        rounded<T>(random_matrix(static_cast<Eigen::Index>(contexts.size()),
                                 int64_t{shape.num_heads} * shape.head_dim, rng));
    for (const cuda::DecodeAlgorithm algorithm :
         {cuda::DecodeAlgorithm::kOnePass, cuda::DecodeAlgorithm::kSplitK}) {
      const cuda::DecodeOptions options{algorithm, 256};
      const cpu::RowMatrix a = gpu_decode<T>(paged, q, shape, options, this->stream());
      const cpu::RowMatrix b = gpu_decode<T>(contiguous, q, shape, options, this->stream());
      EXPECT_EQ(std::memcmp(a.data(), b.data(), static_cast<size_t>(a.size()) * sizeof(float)), 0)
          << cuda::to_string(algorithm);
    }
  }
}

// Sequences' chunks: (context, q_len) pairs; q_len < context is a chunk after earlier ones.
struct Chunk {
  int32_t context;
  int32_t q_len;
};

template <typename T>
cpu::RowMatrix gpu_prefill(const KvFixture<T>& fx, const cpu::RowMatrix& q,
                           const std::vector<int32_t>& indptr, int32_t max_q_len,
                           const Shape& shape, cudaStream_t stream) {
  const Eigen::Index width = int64_t{shape.num_heads} * shape.head_dim;
  DeviceArray<T> dq(q), dout(q.rows() * width);
  const cuda::DeviceBuffer d_indptr = device_copy(indptr);
  cuda::prefill_attention(static_cast<const T*>(dq.data()), width, d_indptr.as<const int32_t>(),
                          max_q_len, fx.device_view(), fx.gpu_cache.template layer<T>(0).as_const(),
                          shape.num_heads, dout.data(), width, stream);
  return dout.to_matrix(q.rows(), width);
}

TYPED_TEST(GpuAttention, PrefillMatchesCpuForPromptsAndChunks) {
  using T = TypeParam;
  // Whole prompts and chunks crossing the kernel's 16-row query tiles and 32-key tiles.
  const std::vector<Chunk> chunks = {{1, 1},    {5, 5},  {40, 17}, {100, 100}, {300, 33},
                                     {129, 64}, {33, 1}, {47, 16}, {48, 32}};
  std::vector<int32_t> contexts, indptr = {0};
  int32_t max_q_len = 0;
  for (const Chunk& c : chunks) {
    contexts.push_back(c.context);
    indptr.push_back(indptr.back() + c.q_len);
    max_q_len = std::max(max_q_len, c.q_len);
  }
  for (const Shape& shape : shapes()) {
    for (int32_t block_size : {0, 1, 16, 128}) {
      SCOPED_TRACE(describe(shape, block_size));
      const KvFixture<T> fx(shape, block_size, contexts, 31);
      std::mt19937_64 rng(32);
      const Eigen::Index width = int64_t{shape.num_heads} * shape.head_dim;
      const cpu::RowMatrix q = rounded<T>(random_matrix(indptr.back(), width, rng));
      cpu::RowMatrix expected(q.rows(), width);
      cpu::prefill_attention(q, indptr, fx.tables.view(), fx.cpu_cache.layer(0), shape.num_heads,
                             expected);
      const cpu::RowMatrix got = gpu_prefill<T>(fx, q, indptr, max_q_len, shape, this->stream());
      EXPECT_TRUE(all_close(got, expected, gpu_testing::tolerance<T>()));
    }
  }
}

TYPED_TEST(GpuAttention, ChunkedPrefillEqualsOneShotPrefill) {
  // A 90-token prompt as chunks of 24 (each over the cache so far) gives the rows a one-shot
  // prefill gives, up to the storage type's rounding.
  using T = TypeParam;
  const Shape shape{8, 2, 64};
  const int32_t total = 90;
  const KvFixture<T> fx(shape, 16, {total}, 41);
  std::mt19937_64 rng(42);
  const Eigen::Index width = int64_t{shape.num_heads} * shape.head_dim;
  const cpu::RowMatrix q = rounded<T>(random_matrix(total, width, rng));
  const cpu::RowMatrix whole = gpu_prefill<T>(fx, q, {0, total}, total, shape, this->stream());
  for (int32_t start = 0; start < total; start += 24) {
    const int32_t len = std::min(24, total - start);
    // The chunk's view: context = start + len.
    const KvFixture<T> chunk_fx(shape, 16, {start + len}, 41);
    const cpu::RowMatrix part =
        gpu_prefill<T>(chunk_fx, q.middleRows(start, len), {0, len}, len, shape, this->stream());
    EXPECT_TRUE(all_close(part, whole.middleRows(start, len).eval(), gpu_testing::tolerance<T>()))
        << "chunk at " << start;
  }
}

TYPED_TEST(GpuAttention, RejectsBadShapes) {
  using T = TypeParam;
  const Shape shape{6, 4, 64};  // 6 heads do not split over 4 KV heads
  const KvFixture<T> fx(Shape{4, 4, 64}, 16, {8}, 51);
  KvArenaView<const T> arena = fx.gpu_cache.template layer<T>(0).as_const();
  arena.num_kv_heads = 4;
  cuda::DeviceBuffer workspace;
  DeviceArray<T> q(6 * 64), out(6 * 64);
  EXPECT_THROW(
      cuda::decode_attention(static_cast<const T*>(q.data()), 6 * 64, fx.device_view(), 8, arena,
                             shape.num_heads, out.data(), 6 * 64, workspace, this->stream()),
      InvariantError);
}

}  // namespace
}  // namespace kvlab
