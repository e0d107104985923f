// The quantized KV cache on the GPU (memory.kv_dtype fp8_e4m3 and int8) against the cpu back
// end's (kernels/cpu/kv_quant.h), for every compute dtype: the cache write stores the CPU
// quantizer's codes and scales to the bit (zero vectors, infinities and skipped rows
// included); copies and swaps move each slot's scales with its codes; decode (one pass and
// split-K) and prefill attention over a quantized cache, paged and contiguous, match the CPU
// ops over the same codes within the compute dtype's tolerance. Unused slots hold NaN scales,
// so reading one fails. Skipped without a GPU, except the cache's layout (a host pool needs no
// device).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/cache_write.h"
#include "core/errors.h"
#include "core/model_spec.h"
#include "kernels/cpu/kv_copy.h"
#include "kernels/cpu/kv_cache.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/cache_ops.h"
#include "kernels/cuda/kv_cache.h"
#include "kernels/kv_quant_math.h"
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

constexpr KvDtype kScaledDtypes[] = {KvDtype::kFp8E4m3, KvDtype::kInt8};
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// A quantized cache (memory.kv_dtype fp8_e4m3 / int8): 1-byte codes in the element plane, one
// fp32 scale per (layer, slot, KV head) of K and of V in a 256-byte aligned plane after them,
// at the bytes per slot of ModelSpec::kv_bytes_per_slot and of the cpu back end's cache.
// Built as a host pool: no device needed.
TEST(CudaKvCache, AQuantizedCacheHoldsCodesAndScalesAtTheModelSpecsBytesPerSlot) {
  const int32_t layers = 3, kv_heads = 2, head_dim = 80;
  const int64_t slots = 1000;
  for (const KvDtype dtype : {KvDtype::kFp8E4m3, KvDtype::kInt8}) {
    SCOPED_TRACE(kv_dtype_name(dtype));
    const cuda::CudaKvCache pool(layers, slots, kv_heads, head_dim, cuda::DType::kF16,
                                 cuda::CudaKvCache::Memory::kPinnedHost, dtype);
    ModelSpec spec;
    spec.num_layers = layers;
    spec.num_kv_heads = kv_heads;
    spec.head_dim = head_dim;
    spec.dtype_bytes = 2;
    spec.kv_dtype = dtype;
    EXPECT_TRUE(pool.scaled());
    EXPECT_EQ(pool.storage(), dtype);
    EXPECT_EQ(pool.bytes_per_slot(), spec.kv_bytes_per_slot());
    EXPECT_EQ(pool.bytes_per_slot(),
              cpu::CpuKvCache(layers, 1, kv_heads, head_dim, dtype).bytes_per_slot());
    EXPECT_GE(pool.total_bytes(), slots * pool.bytes_per_slot());
    EXPECT_LT(pool.total_bytes(), slots * pool.bytes_per_slot() + 256);
    const std::vector<cuda::CudaKvCache::Plane> planes = pool.planes();
    ASSERT_EQ(planes.size(), 2u);
    EXPECT_EQ(planes[0].slot_bytes, kv_heads * head_dim);
    EXPECT_EQ(planes[0].layer_bytes, slots * kv_heads * head_dim);
    EXPECT_EQ(planes[1].slot_bytes, kv_heads * 4);
    EXPECT_EQ(planes[1].layer_bytes, slots * kv_heads * 4);
    const auto* base = static_cast<const char*>(pool.k_base());
    const int64_t codes = 2LL * layers * slots * kv_heads * head_dim;
    const int64_t scales_at = static_cast<const char*>(planes[1].k_base) - base;
    EXPECT_EQ(scales_at % 256, 0);
    EXPECT_GE(scales_at, codes);
    EXPECT_LT(scales_at, codes + 256);
    EXPECT_EQ(static_cast<const char*>(planes[1].v_base) - static_cast<const char*>(planes[1].k_base),
              layers * planes[1].layer_bytes);
    const cuda::ScaledKvLayer layer = pool.scaled_layer(1);
    EXPECT_EQ(layer.format, dtype == KvDtype::kFp8E4m3 ? cuda::ScaledKvFormat::kFp8E4m3
                                                       : cuda::ScaledKvFormat::kInt8);
    EXPECT_EQ(reinterpret_cast<const char*>(layer.bytes.k), base + planes[0].layer_bytes);
    EXPECT_EQ(reinterpret_cast<const char*>(layer.bytes.v),
              static_cast<const char*>(pool.v_base()) + planes[0].layer_bytes);
    EXPECT_EQ(reinterpret_cast<const char*>(layer.bytes.k_scale),
              static_cast<const char*>(planes[1].k_base) + planes[1].layer_bytes);
    EXPECT_EQ(reinterpret_cast<const char*>(layer.bytes.v_scale),
              static_cast<const char*>(planes[1].v_base) + planes[1].layer_bytes);
    EXPECT_EQ(layer.bytes.k_at(5, 1) - layer.bytes.k, (5 * kv_heads + 1) * head_dim);
    EXPECT_EQ(layer.bytes.v_scale_at(5, 1) - layer.bytes.v_scale, 5 * kv_heads + 1);
    EXPECT_EQ(*layer.bytes.v_scale_at(slots - 1, 1), 0.0f);  // zeros until written
    EXPECT_THROW(pool.layer<__half>(0), InvariantError);
    EXPECT_THROW(pool.scaled_layer(layers), InvariantError);
  }
  const cuda::CudaKvCache plain(layers, slots, kv_heads, head_dim, cuda::DType::kF16,
                                cuda::CudaKvCache::Memory::kPinnedHost);
  EXPECT_EQ(plain.storage(), KvDtype::kFp16);
  EXPECT_FALSE(plain.scaled());
  EXPECT_EQ(plain.planes().size(), 1u);
  EXPECT_EQ(plain.total_bytes(), slots * plain.bytes_per_slot());
  EXPECT_THROW(plain.scaled_layer(0), InvariantError);
  // Another float format than the compute dtype is not a storage these kernels read.
  EXPECT_THROW(cuda::CudaKvCache(1, 4, 1, 16, cuda::DType::kF32,
                                 cuda::CudaKvCache::Memory::kPinnedHost, KvDtype::kFp16),
               InvariantError);
  EXPECT_NO_THROW(cuda::CudaKvCache(1, 4, 1, 16, cuda::DType::kF32,
                                    cuda::CudaKvCache::Memory::kPinnedHost, KvDtype::kFp32));
}

template <typename T>
class GpuKvQuant : public ::testing::Test {
 protected:
  void SetUp() override {
    KVLAB_REQUIRE_CUDA_DEVICE();
    stream_ = std::make_unique<cuda::CudaStream>();
  }
  cudaStream_t stream() const { return stream_->get(); }
  void sync() const { stream_->synchronize("test"); }
  std::unique_ptr<cuda::CudaStream> stream_;
};

using StorageTypes = ::testing::Types<float, __half, __nv_bfloat16>;
TYPED_TEST_SUITE(GpuKvQuant, StorageTypes);

// Codes byte for byte and scales bit for bit (any NaN equals any NaN) over slots [first, end)
// of every layer.
::testing::AssertionResult same_store(const cpu::CpuKvCache& got, const cpu::CpuKvCache& want,
                                      int64_t first, int64_t end) {
  const int64_t heads = want.num_kv_heads();
  for (int32_t l = 0; l < want.num_layers(); ++l) {
    const cpu::KvLayerStore g = got.store(l), w = want.store(l);
    const auto codes = static_cast<size_t>((end - first) * heads * want.head_dim());
    const int64_t at = first * heads * want.head_dim();
    if (std::memcmp(g.k + at, w.k + at, codes) != 0 || std::memcmp(g.v + at, w.v + at, codes) != 0) {
      return ::testing::AssertionFailure() << "layer " << l << ": codes differ";
    }
    for (int64_t i = first * heads; i < end * heads; ++i) {
      for (const auto& [a, b] :
           {std::pair{g.k_scale[i], w.k_scale[i]}, std::pair{g.v_scale[i], w.v_scale[i]}}) {
        const bool same = (std::isnan(a) && std::isnan(b)) ||
                          kv_quant::float_bits(a) == kv_quant::float_bits(b);
        if (!same) {
          return ::testing::AssertionFailure() << "layer " << l << ", vector " << i << ": scale "
                                               << a << ", expected " << b;
        }
      }
    }
  }
  return ::testing::AssertionSuccess();
}

TYPED_TEST(GpuKvQuant, CacheWriteStoresTheCpuQuantizersBits) {
  using T = TypeParam;
  std::mt19937_64 rng(31);
  const int32_t kv_heads = 2;
  const int64_t slots = 40;
  for (const KvDtype dtype : kScaledDtypes) {
    for (const int32_t head_dim : {64, 128, 80}) {
      SCOPED_TRACE(kv_dtype_name(dtype) + ", head_dim " + std::to_string(head_dim));
      const Eigen::Index width = int64_t{kv_heads} * head_dim;
      cpu::CpuKvCache cpu_cache(1, slots, kv_heads, head_dim, dtype);
      cpu_cache.fill(kNaN);  // zero codes, NaN scales: a slot the write skips stays so
      cuda::CudaKvCache gpu_cache(1, slots, kv_heads, head_dim, cuda::dtype_of<T>(),
                                  cuda::CudaKvCache::Memory::kDevice, dtype);
      gpu_testing::upload_scaled_cache(cpu_cache, gpu_cache);
      // k and v as column slices of one qkv-like row, as the model passes them; magnitudes up
      // to 40 so fp8's codes span its exponents.
      cpu::RowMatrix qkv = rounded<T>(random_matrix(7, 3 * width, rng, 40.0f));
      qkv.block(5, width, 1, head_dim).setZero();               // a zero vector: scale 0
      qkv(6, 2 * width + 3) = std::numeric_limits<float>::infinity();  // NaN scale, zero codes
      const std::vector<int64_t> slot_mapping = {3, 39, -1, 0, 17, 18, 20};
      cpu::write_kv(qkv.middleCols(width, width), qkv.rightCols(width), slot_mapping,
                    cpu_cache.store(0));
      DeviceArray<T> dqkv(qkv);
      const cuda::DeviceBuffer dslots = device_copy(slot_mapping);
      cuda::write_kv(static_cast<const T*>(dqkv.data() + width), 3 * width,
                     static_cast<const T*>(dqkv.data() + 2 * width), 3 * width,
                     dslots.as<const int64_t>(), 7, gpu_cache.scaled_layer(0), this->stream());
      this->sync();
      cpu::CpuKvCache back(1, slots, kv_heads, head_dim, dtype);
      gpu_testing::download_scaled_cache(gpu_cache, back);
      EXPECT_TRUE(same_store(back, cpu_cache, 0, slots));
      EXPECT_EQ(*back.store(0).k_scale_at(18, 0), 0.0f);
      EXPECT_TRUE(std::isnan(*back.store(0).v_scale_at(20, 0)));
    }
  }
}

// Copies and swaps on quantized caches, checked against the CPU copy_kv on the same lists.
void check_scaled_movement(cuda::DType compute, KvDtype dtype, const std::vector<KvCopy>& copies,
                           const std::vector<KvCopy>& out_list, const std::vector<KvCopy>& in_list,
                           cudaStream_t stream) {
  const int32_t layers = 3, kv_heads = 2, head_dim = 16;
  const int64_t slots = 512, pool_slots = 128;
  cpu::CpuKvCache cpu_device(layers, slots, kv_heads, head_dim, dtype),
      cpu_host(layers, pool_slots, kv_heads, head_dim, dtype);
  std::mt19937_64 rng(32);
  std::vector<int64_t> every_slot(static_cast<size_t>(slots));
  for (int64_t s = 0; s < slots; ++s) every_slot[static_cast<size_t>(s)] = s;
  for (int32_t l = 0; l < layers; ++l) {
    const Eigen::Index width = int64_t{kv_heads} * head_dim;
    cpu::write_kv(random_matrix(slots, width, rng, 5.0f), random_matrix(slots, width, rng, 5.0f),
                  every_slot, cpu_device.store(l));
  }
  cpu_host.fill(kNaN);
  cuda::CudaKvCache gpu_device(layers, slots, kv_heads, head_dim, compute,
                               cuda::CudaKvCache::Memory::kDevice, dtype);
  cuda::CudaKvCache gpu_host(layers, pool_slots, kv_heads, head_dim, compute,
                             cuda::CudaKvCache::Memory::kPinnedHost, dtype);
  gpu_testing::upload_scaled_cache(cpu_device, gpu_device);
  gpu_testing::upload_scaled_cache(cpu_host, gpu_host);
  cuda::StagedUpload list;
  cpu::copy_kv_within(cpu_device, copies);
  cuda::copy_kv_within(gpu_device, copies, list, stream);
  cpu::swap_out(cpu_device, cpu_host, out_list);
  cuda::swap_out(gpu_device, gpu_host, out_list, stream);
  cpu::swap_in(cpu_host, cpu_device, in_list);
  cuda::swap_in(gpu_host, gpu_device, in_list, stream);
  cuda::check_cuda(cudaStreamSynchronize(stream), "movement");
  cpu::CpuKvCache back(layers, slots, kv_heads, head_dim, dtype),
      back_host(layers, pool_slots, kv_heads, head_dim, dtype);
  gpu_testing::download_scaled_cache(gpu_device, back);
  gpu_testing::download_scaled_cache(gpu_host, back_host);
  EXPECT_TRUE(same_store(back, cpu_device, 0, slots));
  EXPECT_TRUE(same_store(back_host, cpu_host, 0, pool_slots));
}

TYPED_TEST(GpuKvQuant, CopiesAndSwapsMoveScalesWithTheirSlots) {
  const cuda::DType compute = cuda::dtype_of<TypeParam>();
  for (const KvDtype dtype : kScaledDtypes) {
    SCOPED_TRACE(kv_dtype_name(dtype));
    // Few copies: the cudaMemcpyAsync path.
    check_scaled_movement(compute, dtype, {{0, 100, 16}, {16, 300, 3}}, {{100, 0, 16}},
                          {{0, 200, 16}}, this->stream());
    // Many independent single-slot copies: the kernel path, once per plane.
    std::vector<KvCopy> many, outs, ins;
    for (int64_t i = 0; i < 40; ++i) many.push_back({i, 256 + 2 * i, 1});
    for (int64_t i = 0; i < 30; ++i) outs.push_back({256 + 2 * i, i, 1});
    for (int64_t i = 0; i < 30; ++i) ins.push_back({i, 400 + i, 1});
    check_scaled_movement(compute, dtype, many, outs, ins, this->stream());
  }
}

struct Shape {
  int32_t num_heads;
  int32_t num_kv_heads;
  int32_t head_dim;
};

// Sequences' K/V quantized into one arena by the CPU (NaN scales elsewhere), uploaded as is.
template <typename T>
struct ScaledKvFixture {
  ScaledKvFixture(const Shape& shape, KvDtype dtype, int32_t block_size,
                  const std::vector<int32_t>& contexts, uint64_t seed)
      : cpu_cache(1, kArenaSlots, shape.num_kv_heads, shape.head_dim, dtype),
        gpu_cache(1, kArenaSlots, shape.num_kv_heads, shape.head_dim, cuda::dtype_of<T>(),
                  cuda::CudaKvCache::Memory::kDevice, dtype) {
    cpu_cache.fill(kNaN);
    LayoutAllocator alloc = block_size == 0
                                ? LayoutAllocator::contiguous(kArenaSlots)
                                : LayoutAllocator::paged(block_size, kArenaSlots, true, seed);
    const Eigen::Index width = int64_t{shape.num_kv_heads} * shape.head_dim;
    for (size_t i = 0; i < contexts.size(); ++i) {
      layouts.push_back(alloc.allocate(contexts[i]));
      std::mt19937_64 rng(seed * 1000 + i);
      const cpu::RowMatrix k = rounded<T>(random_matrix(contexts[i], width, rng));
      const cpu::RowMatrix v = rounded<T>(random_matrix(contexts[i], width, rng));
      std::vector<int64_t> slots;
      cpu::append_slot_mapping(layouts.back(), 0, contexts[i], slots);
      cpu::write_kv(k, v, slots, cpu_cache.store(0));
    }
    gpu_testing::upload_scaled_cache(cpu_cache, gpu_cache);
    tables = KvBatchTables::build(layouts, contexts, kArenaSlots);
    d_context = device_copy(tables.context_lens());
    d_indptr = device_copy(tables.block_indptr());
    d_indices = device_copy(tables.block_indices());
    d_base = device_copy(tables.base_slots());
  }

  KvSeqView device_view() const {
    KvSeqView v = tables.view();
    const bool paged = tables.kind() == KvLayout::Kind::kPaged;
    v.context_lens = d_context.as<const int32_t>();
    v.block_indptr = paged ? d_indptr.as<const int32_t>() : nullptr;
    v.block_indices = paged ? d_indices.as<const int32_t>() : nullptr;
    v.base_slots = paged ? nullptr : d_base.as<const int64_t>();
    return v;
  }

  static constexpr int64_t kArenaSlots = 4096;
  cpu::CpuKvCache cpu_cache;
  cuda::CudaKvCache gpu_cache;
  std::vector<KvLayout> layouts;
  KvBatchTables tables;
  cuda::DeviceBuffer d_context, d_indptr, d_indices, d_base;
};

const Shape kShapes[] = {{8, 2, 128}, {4, 4, 64}, {6, 3, 80}};

TYPED_TEST(GpuKvQuant, DecodeOverAQuantizedCacheMatchesCpu) {
  using T = TypeParam;
  const std::vector<int32_t> contexts = {1, 7, 33, 100, 257, 700};
  for (const KvDtype dtype : kScaledDtypes) {
    for (const Shape& shape : kShapes) {
      for (const int32_t block_size : {0, 16}) {
        SCOPED_TRACE(kv_dtype_name(dtype) + ", head_dim " + std::to_string(shape.head_dim) +
                     ", block_size " + std::to_string(block_size));
        const ScaledKvFixture<T> fx(shape, dtype, block_size, contexts, 41);
        std::mt19937_64 rng(42);
        const Eigen::Index width = int64_t{shape.num_heads} * shape.head_dim;
        const cpu::RowMatrix q =
            rounded<T>(random_matrix(static_cast<Eigen::Index>(contexts.size()), width, rng));
        cpu::RowMatrix expected(q.rows(), width);
        cpu::decode_attention(q, fx.tables.view(), fx.cpu_cache.store(0), shape.num_heads,
                              expected);
        for (const cuda::DecodeOptions options :
             {cuda::DecodeOptions{cuda::DecodeAlgorithm::kOnePass, 512},
              cuda::DecodeOptions{cuda::DecodeAlgorithm::kSplitK, 64}}) {
          SCOPED_TRACE(cuda::to_string(options.algorithm));
          DeviceArray<T> dq(q), dout(q.rows() * width);
          cuda::DeviceBuffer workspace;
          cuda::decode_attention(static_cast<const T*>(dq.data()), width, fx.device_view(), 700,
                                 fx.gpu_cache.scaled_layer(0), shape.num_heads, dout.data(), width,
                                 workspace, this->stream(), options);
          EXPECT_TRUE(all_close(dout.to_matrix(q.rows(), width), expected,
                                gpu_testing::tolerance<T>()));
        }
      }
    }
  }
}

TYPED_TEST(GpuKvQuant, PrefillOverAQuantizedCacheMatchesCpu) {
  using T = TypeParam;
  // (context, q_len): whole prompts and chunks after earlier ones.
  const std::vector<std::pair<int32_t, int32_t>> chunks = {{5, 5}, {40, 17}, {100, 33}, {70, 70}};
  std::vector<int32_t> contexts, indptr = {0};
  int32_t max_q_len = 0;
  for (const auto& [context, q_len] : chunks) {
    contexts.push_back(context);
    indptr.push_back(indptr.back() + q_len);
    max_q_len = std::max(max_q_len, q_len);
  }
  for (const KvDtype dtype : kScaledDtypes) {
    for (const Shape& shape : kShapes) {
      for (const int32_t block_size : {0, 16}) {
        SCOPED_TRACE(kv_dtype_name(dtype) + ", head_dim " + std::to_string(shape.head_dim) +
                     ", block_size " + std::to_string(block_size));
        const ScaledKvFixture<T> fx(shape, dtype, block_size, contexts, 43);
        std::mt19937_64 rng(44);
        const Eigen::Index width = int64_t{shape.num_heads} * shape.head_dim;
        const cpu::RowMatrix q = rounded<T>(random_matrix(indptr.back(), width, rng));
        cpu::RowMatrix expected(q.rows(), width);
        cpu::prefill_attention(q, indptr, fx.tables.view(), fx.cpu_cache.store(0),
                               shape.num_heads, expected);
        DeviceArray<T> dq(q), dout(q.rows() * width);
        const cuda::DeviceBuffer d_indptr = device_copy(indptr);
        cuda::prefill_attention(static_cast<const T*>(dq.data()), width,
                                d_indptr.as<const int32_t>(), max_q_len, fx.device_view(),
                                fx.gpu_cache.scaled_layer(0), shape.num_heads, dout.data(), width,
                                this->stream());
        EXPECT_TRUE(
            all_close(dout.to_matrix(q.rows(), width), expected, gpu_testing::tolerance<T>()));
      }
    }
  }
}

}  // namespace
}  // namespace kvlab
