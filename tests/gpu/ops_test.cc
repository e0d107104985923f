// Differential tests of the CUDA row-wise ops, GEMM and KV movement against the CPU reference
// ops, for fp32, fp16 and bf16 storage (tolerances in gpu_test_util.h). Skipped without a GPU.
#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <span>
#include <vector>

#include "kernels/cpu/activation.h"
#include "kernels/cpu/cache_write.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/kv_copy.h"
#include "kernels/cpu/layer_norm.h"
#include "kernels/cpu/rms_norm.h"
#include "kernels/cpu/rotary.h"
#include "kernels/cpu/sampling.h"
#include "kernels/cuda/cache_ops.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/kv_cache.h"
#include "kernels/cuda/lazy_pinned_memory.h"
#include "tests/gpu/gpu_test_util.h"
#include "tests/kernels/kernel_test_util.h"

namespace kvlab {
namespace {

using gpu_testing::all_close;
using gpu_testing::device_copy;
using gpu_testing::DeviceArray;
using gpu_testing::rounded;
using testing::random_matrix;

template <typename T>
class GpuOps : public ::testing::Test {
 protected:
  void SetUp() override {
    KVLAB_REQUIRE_CUDA_DEVICE();
    stream_ = std::make_unique<cuda::CudaStream>();
  }
  cudaStream_t stream() const { return stream_->get(); }
  void sync() const { stream_->synchronize("test"); }
  double tol() const { return gpu_testing::tolerance<T>(); }

  std::unique_ptr<cuda::CudaStream> stream_;
};

using StorageTypes = ::testing::Types<float, __half, __nv_bfloat16>;
TYPED_TEST_SUITE(GpuOps, StorageTypes);

TYPED_TEST(GpuOps, RmsNormMatchesCpuIncludingInPlace) {
  using T = TypeParam;
  std::mt19937_64 rng(1);
  for (Eigen::Index hidden :
       {Eigen::Index{16}, Eigen::Index{64}, Eigen::Index{4096}, Eigen::Index{5000}}) {
    SCOPED_TRACE("hidden " + std::to_string(hidden));
    const cpu::RowMatrix x = rounded<T>(random_matrix(7, hidden, rng, 3.0f));
    const cpu::RowMatrix w =
        rounded<T>((random_matrix(1, hidden, rng, 0.5f).array() + 1.0f).matrix());
    cpu::RowMatrix expected(7, hidden);
    cpu::rms_norm(x, w.row(0).transpose(), 1e-5f, expected);
    DeviceArray<T> dx(x), dw(w), dout(x.size());
    cuda::rms_norm(dx.data(), hidden, dw.data(), 1e-5f, dout.data(), hidden, 7,
                   static_cast<int32_t>(hidden), this->stream());
    EXPECT_TRUE(all_close(dout.to_matrix(7, hidden), expected, this->tol()));
    cuda::rms_norm(dx.data(), hidden, dw.data(), 1e-5f, dx.data(), hidden, 7,
                   static_cast<int32_t>(hidden), this->stream());
    EXPECT_TRUE(all_close(dx.to_matrix(7, hidden), expected, this->tol())) << "in place";
  }
}

TYPED_TEST(GpuOps, RotaryMatchesCpuOnQAndKHeadsOfAStridedRow) {
  using T = TypeParam;
  std::mt19937_64 rng(2);
  for (int32_t head_dim : {16, 64, 128}) {
    SCOPED_TRACE("head_dim " + std::to_string(head_dim));
    const int32_t heads = 6;                            // e.g. 4 query + 2 key heads
    const Eigen::Index width = (heads + 3) * head_dim;  // + 3 value-like heads left alone
    const std::vector<int32_t> positions = {0, 1, 5, 1000, 4095, 77};
    const cpu::RowMatrix x = rounded<T>(random_matrix(6, width, rng));
    cpu::RowMatrix expected = x;
    auto rotated = expected.leftCols(heads * head_dim);
    cpu::apply_rotary(rotated, head_dim, positions, 10000.0);
    const cuda::RotaryTable table(head_dim, 4096, 10000.0);
    DeviceArray<T> dx(x);
    const cuda::DeviceBuffer dpos = device_copy(positions);
    cuda::apply_rotary(dx.data(), width, 6, heads, dpos.as<const int32_t>(), table, this->stream());
    const cpu::RowMatrix got = dx.to_matrix(6, width);
    EXPECT_TRUE(all_close(got, expected, this->tol()));
    EXPECT_EQ(got.rightCols(3 * head_dim), x.rightCols(3 * head_dim)) << "other heads untouched";
  }
}

TYPED_TEST(GpuOps, SiluAndMulMatchesCpu) {
  using T = TypeParam;
  std::mt19937_64 rng(3);
  const Eigen::Index d = 300;
  const cpu::RowMatrix gate_up = rounded<T>(random_matrix(5, 2 * d, rng, 4.0f));
  cpu::RowMatrix expected(5, d);
  cpu::silu_and_mul(gate_up, expected);
  DeviceArray<T> dg(gate_up), dout(5 * d);
  cuda::silu_and_mul(dg.data(), 2 * d, dout.data(), d, 5, static_cast<int32_t>(d), this->stream());
  EXPECT_TRUE(all_close(dout.to_matrix(5, d), expected, this->tol()));
}

TYPED_TEST(GpuOps, LayerNormMatchesCpuIncludingInPlace) {
  using T = TypeParam;
  std::mt19937_64 rng(11);
  for (Eigen::Index hidden :
       {Eigen::Index{16}, Eigen::Index{64}, Eigen::Index{4096}, Eigen::Index{5000}}) {
    SCOPED_TRACE("hidden " + std::to_string(hidden));
    // A row offset far from 0 checks the two-pass variance (no E[x^2] - E[x]^2 cancellation).
    const cpu::RowMatrix x =
        rounded<T>((random_matrix(7, hidden, rng, 3.0f).array() + 5.0f).matrix());
    const cpu::RowMatrix w =
        rounded<T>((random_matrix(1, hidden, rng, 0.5f).array() + 1.0f).matrix());
    const cpu::RowMatrix bias = rounded<T>(random_matrix(1, hidden, rng, 0.5f));
    cpu::RowMatrix expected(7, hidden);
    cpu::layer_norm(x, w.row(0).transpose(), bias.row(0).transpose(), 1e-5f, expected);
    DeviceArray<T> dx(x), dw(w), db(bias), dout(x.size());
    cuda::layer_norm(dx.data(), hidden, dw.data(), db.data(), 1e-5f, dout.data(), hidden, 7,
                     static_cast<int32_t>(hidden), this->stream());
    EXPECT_TRUE(all_close(dout.to_matrix(7, hidden), expected, this->tol()));
    cuda::layer_norm(dx.data(), hidden, dw.data(), db.data(), 1e-5f, dx.data(), hidden, 7,
                     static_cast<int32_t>(hidden), this->stream());
    EXPECT_TRUE(all_close(dx.to_matrix(7, hidden), expected, this->tol())) << "in place";
  }
}

TYPED_TEST(GpuOps, BiasAddBiasReluAndReluMatchCpu) {
  using T = TypeParam;
  std::mt19937_64 rng(12);
  const Eigen::Index rows = 5, cols = 300, stride = 310;  // strided rows: the tail is untouched
  const cpu::RowMatrix x = rounded<T>(random_matrix(rows, stride, rng, 2.0f));
  const cpu::RowMatrix bias = rounded<T>(random_matrix(1, cols, rng, 1.0f));
  cpu::RowMatrix with_bias = x;
  cpu::add_bias(bias.row(0).transpose(), with_bias.leftCols(cols));
  cpu::RowMatrix with_bias_relu = with_bias;
  cpu::relu(with_bias.leftCols(cols), with_bias_relu.leftCols(cols));
  cpu::RowMatrix relu_only = x;
  cpu::relu(x.leftCols(cols), relu_only.leftCols(cols));
  DeviceArray<T> db(bias);
  {
    DeviceArray<T> dx(x);
    cuda::add_bias(dx.data(), stride, db.data(), rows, static_cast<int32_t>(cols), this->stream());
    EXPECT_TRUE(all_close(dx.to_matrix(rows, stride), rounded<T>(with_bias), this->tol()))
        << "add_bias";
  }
  {
    DeviceArray<T> dx(x);
    cuda::bias_relu(dx.data(), stride, db.data(), rows, static_cast<int32_t>(cols),
                    this->stream());
    EXPECT_TRUE(all_close(dx.to_matrix(rows, stride), rounded<T>(with_bias_relu), this->tol()))
        << "bias_relu";
  }
  {
    DeviceArray<T> dx(x), dout(x);
    cuda::relu(static_cast<const T*>(dx.data()), stride, dout.data(), stride, rows,
               static_cast<int32_t>(cols), this->stream());
    EXPECT_EQ(dout.to_matrix(rows, stride), relu_only) << "relu is exact";
  }
}

TYPED_TEST(GpuOps, TokenPositionEmbeddingAddsTheOffsetPositionRow) {
  using T = TypeParam;
  std::mt19937_64 rng(13);
  const Eigen::Index hidden = 40;
  const cpu::RowMatrix tokens_table = rounded<T>(random_matrix(30, hidden, rng));
  const cpu::RowMatrix positions_table = rounded<T>(random_matrix(12, hidden, rng));  // 10 + 2
  const std::vector<int32_t> ids = {29, 0, 7, 7, 3};
  const std::vector<int32_t> positions = {0, 1, 9, 4, 0};
  DeviceArray<T> dtok(tokens_table), dpos(positions_table), dout(5 * hidden);
  const cuda::DeviceBuffer dids = device_copy(ids);
  const cuda::DeviceBuffer dpositions = device_copy(positions);
  cuda::token_position_embedding(static_cast<const T*>(dtok.data()),
                                 static_cast<const T*>(dpos.data()), dids.as<const int32_t>(),
                                 dpositions.as<const int32_t>(), 2, dout.data(), hidden, 5,
                                 static_cast<int32_t>(hidden), this->stream());
  cpu::RowMatrix expected(5, hidden);
  for (Eigen::Index r = 0; r < 5; ++r) {
    expected.row(r) = tokens_table.row(ids[static_cast<size_t>(r)]) +
                      positions_table.row(positions[static_cast<size_t>(r)] + 2);
  }
  EXPECT_TRUE(all_close(dout.to_matrix(5, hidden), rounded<T>(expected), this->tol()));
}

TYPED_TEST(GpuOps, GatherRowsPicksRowsExactly) {
  using T = TypeParam;
  std::mt19937_64 rng(4);
  const cpu::RowMatrix table = rounded<T>(random_matrix(50, 33, rng));
  const std::vector<int32_t> rows = {49, 0, 7, 7, 31};
  DeviceArray<T> dt(table), dout(5 * 33);
  const cuda::DeviceBuffer drows = device_copy(rows);
  cuda::gather_rows(dt.data(), 33, drows.as<const int32_t>(), dout.data(), 33, 5, 33,
                    this->stream());
  const cpu::RowMatrix got = dout.to_matrix(5, 33);
  for (size_t r = 0; r < rows.size(); ++r) {
    EXPECT_EQ(got.row(static_cast<Eigen::Index>(r)), table.row(rows[r])) << "row " << r;
  }
}

TYPED_TEST(GpuOps, LinearAndLinearAccumulateMatchCpu) {
  using T = TypeParam;
  std::mt19937_64 rng(5);
  for (Eigen::Index rows : {Eigen::Index{1}, Eigen::Index{17}, Eigen::Index{128}}) {
    SCOPED_TRACE("rows " + std::to_string(rows));
    const Eigen::Index in = 256, out = 96;
    const cpu::RowMatrix x = rounded<T>(random_matrix(rows, in, rng));
    const cpu::RowMatrix w = rounded<T>(random_matrix(out, in, rng, 0.1f));
    const cpu::RowMatrix residual = rounded<T>(random_matrix(rows, out, rng));
    cpu::RowMatrix expected(rows, out);
    cpu::linear(x, w, expected);
    cpu::RowMatrix expected_acc = residual;
    cpu::linear_accumulate(x, w, expected_acc);
    const cuda::CublasHandle cublas(this->stream());
    DeviceArray<T> dx(x), dw(w), dout(rows * out), dacc(residual);
    cuda::linear(cublas, dx.data(), in, dw.data(), rows, in, out, dout.data(), out);
    cuda::linear(cublas, dx.data(), in, dw.data(), rows, in, out, dacc.data(), out, 1.0f);
    EXPECT_TRUE(all_close(dout.to_matrix(rows, out), expected, this->tol()));
    EXPECT_TRUE(all_close(dacc.to_matrix(rows, out), expected_acc, this->tol()));
    // fp32 output (the LM head's logits).
    DeviceArray<float> dlogits(rows * out);
    cuda::linear(cublas, static_cast<const T*>(dx.data()), in, static_cast<const T*>(dw.data()),
                 rows, in, out, dlogits.data(), out);
    EXPECT_TRUE(all_close(dlogits.to_matrix(rows, out), expected, this->tol()));
  }
}

TYPED_TEST(GpuOps, WriteKvMatchesCpuAndSkipsNegativeSlots) {
  using T = TypeParam;
  std::mt19937_64 rng(6);
  const int32_t kv_heads = 2, head_dim = 64;
  const Eigen::Index width = kv_heads * head_dim;
  cpu::CpuKvCache cpu_cache(1, 40, kv_heads, head_dim);
  cpu_cache.fill(std::numeric_limits<float>::quiet_NaN());
  cuda::CudaKvCache gpu_cache(1, 40, kv_heads, head_dim, cuda::dtype_of<T>(),
                              cuda::CudaKvCache::Memory::kDevice);
  gpu_testing::upload_cache<T>(cpu_cache, gpu_cache);
  // k and v as column slices of one qkv-like row, as the model passes them.
  const cpu::RowMatrix qkv = rounded<T>(random_matrix(6, 3 * width, rng));
  const std::vector<int64_t> slots = {3, 39, -1, 0, 17, 18};
  cpu::write_kv(qkv.middleCols(width, width), qkv.rightCols(width), slots, cpu_cache.layer(0));
  DeviceArray<T> dqkv(qkv);
  const cuda::DeviceBuffer dslots = device_copy(slots);
  cuda::write_kv(static_cast<const T*>(dqkv.data() + width), 3 * width,
                 static_cast<const T*>(dqkv.data() + 2 * width), 3 * width,
                 dslots.as<const int64_t>(), 6, gpu_cache.layer<T>(0), this->stream());
  cpu::CpuKvCache back(1, 40, kv_heads, head_dim);
  gpu_testing::download_cache<T>(gpu_cache, back);
  const int64_t n = 40 * width;
  for (int64_t i = 0; i < n; ++i) {
    const float want_k = cpu_cache.layer(0).k[i], got_k = back.layer(0).k[i];
    const float want_v = cpu_cache.layer(0).v[i], got_v = back.layer(0).v[i];
    ASSERT_TRUE((std::isnan(want_k) && std::isnan(got_k)) || want_k == got_k) << "K element " << i;
    ASSERT_TRUE((std::isnan(want_v) && std::isnan(got_v)) || want_v == got_v) << "V element " << i;
  }
}

TYPED_TEST(GpuOps, ArgmaxTakesTheLowestIdOnTies) {
  std::mt19937_64 rng(7);
  const int32_t vocab = 32000;
  cpu::RowMatrix logits = random_matrix(4, vocab, rng, 5.0f);
  logits(1, 100) = 50.0f;
  logits(1, 31999) = 50.0f;  // tie: 100 wins
  logits(2, 0) = 60.0f;
  logits(2, 5) = 60.0f;              // tie at the start: 0 wins
  logits.row(3).setConstant(-1.0f);  // all equal: 0
  DeviceArray<float> dl(logits);
  cuda::DeviceBuffer dout(4 * sizeof(int32_t));
  cuda::argmax_rows(dl.data(), vocab, 4, vocab, dout.as<int32_t>(), this->stream());
  this->sync();
  std::vector<int32_t> got(4);
  cuda::check_cuda(cudaMemcpy(got.data(), dout.data(), 4 * sizeof(int32_t), cudaMemcpyDeviceToHost),
                   "ids");
  for (Eigen::Index r = 0; r < 4; ++r) {
    EXPECT_EQ(got[static_cast<size_t>(r)],
              cpu::argmax(std::span<const float>(logits.row(r).data(), vocab)))
        << "row " << r;
  }
  EXPECT_EQ(got[1], 100);
  EXPECT_EQ(got[2], 0);
  EXPECT_EQ(got[3], 0);
}

// Copies and swaps, checked slot for slot against the CPU copy_kv on the same lists.
template <typename T>
void check_movement(const std::vector<KvCopy>& copies, const std::vector<KvCopy>& out_list,
                    const std::vector<KvCopy>& in_list, cudaStream_t stream) {
  const int32_t layers = 3, kv_heads = 2, head_dim = 16;
  const int64_t slots = 512, pool_slots = 128;
  cpu::CpuKvCache cpu_device(layers, slots, kv_heads, head_dim),
      cpu_host(layers, pool_slots, kv_heads, head_dim);
  std::mt19937_64 rng(8);
  for (int32_t l = 0; l < layers; ++l) {
    const KvArenaView<float> a = cpu_device.layer(l);
    for (int64_t i = 0; i < slots * cpu_device.slot_floats(); ++i) {
      a.k[i] = gpu_testing::round_to<T>(testing::uniform(rng));
      a.v[i] = gpu_testing::round_to<T>(testing::uniform(rng));
    }
  }
  cuda::CudaKvCache gpu_device(layers, slots, kv_heads, head_dim, cuda::dtype_of<T>(),
                               cuda::CudaKvCache::Memory::kDevice);
  cuda::CudaKvCache gpu_host(layers, pool_slots, kv_heads, head_dim, cuda::dtype_of<T>(),
                             cuda::CudaKvCache::Memory::kPinnedHost);
  gpu_testing::upload_cache<T>(cpu_device, gpu_device);
  gpu_testing::upload_cache<T>(cpu_host, gpu_host);
  cuda::StagedUpload list;
  cpu::copy_kv_within(cpu_device, copies);
  cuda::copy_kv_within(gpu_device, copies, list, stream);
  cpu::swap_out(cpu_device, cpu_host, out_list);
  cuda::swap_out(gpu_device, gpu_host, out_list, stream);
  cpu::swap_in(cpu_host, cpu_device, in_list);
  cuda::swap_in(gpu_host, gpu_device, in_list, stream);
  cuda::check_cuda(cudaStreamSynchronize(stream), "movement");
  cpu::CpuKvCache back(layers, slots, kv_heads, head_dim),
      back_host(layers, pool_slots, kv_heads, head_dim);
  gpu_testing::download_cache<T>(gpu_device, back);
  gpu_testing::download_cache<T>(gpu_host, back_host);
  for (int32_t l = 0; l < layers; ++l) {
    for (int64_t i = 0; i < slots * back.slot_floats(); ++i) {
      ASSERT_EQ(back.layer(l).k[i], cpu_device.layer(l).k[i]) << "layer " << l << " K " << i;
      ASSERT_EQ(back.layer(l).v[i], cpu_device.layer(l).v[i]) << "layer " << l << " V " << i;
    }
  }
  // The pool matches where the CPU pool was written (the rest is uninitialized pinned memory).
  for (const KvCopy& c : out_list) {
    for (int32_t l = 0; l < layers; ++l) {
      for (int64_t i = c.dst_slot * back_host.slot_floats();
           i < (c.dst_slot + c.num_slots) * back_host.slot_floats(); ++i) {
        ASSERT_EQ(back_host.layer(l).k[i], cpu_host.layer(l).k[i])
            << "pool layer " << l << " " << i;
        ASSERT_EQ(back_host.layer(l).v[i], cpu_host.layer(l).v[i])
            << "pool layer " << l << " " << i;
      }
    }
  }
}

TYPED_TEST(GpuOps, CopiesAndSwapsMatchCpu) {
  using T = TypeParam;
  // Few copies: the cudaMemcpyAsync path.
  check_movement<T>({{0, 100, 16}, {16, 300, 3}}, {{100, 0, 16}}, {{0, 200, 16}}, this->stream());
  // Many independent single-slot copies (block_size 1 copy-on-write): the kernel path.
  std::vector<KvCopy> many, outs, ins;
  for (int64_t i = 0; i < 40; ++i) many.push_back({i, 256 + 2 * i, 1});
  for (int64_t i = 0; i < 30; ++i) outs.push_back({256 + 2 * i, i, 1});  // adjacent in the pool
  for (int64_t i = 0; i < 30; ++i) ins.push_back({i, 400 + i, 1});       // merge into one range
  check_movement<T>(many, outs, ins, this->stream());
  // A dependent chain: copy 2 reads what copy 1 wrote; list order must hold.
  std::vector<KvCopy> chain;
  for (int64_t i = 0; i < 20; ++i) chain.push_back({i, 100 + i, 1});
  for (int64_t i = 0; i < 20; ++i) chain.push_back({100 + i, 200 + i, 1});
  EXPECT_FALSE(cuda::copies_independent(chain));
  check_movement<T>(chain, {}, {}, this->stream());
}

// The host pool pins what swaps write, in LazyPinnedMemory chunks, and nothing else: a 64 GiB
// pool that two blocks are swapped into pins at most a chunk per layer and tensor for each.
TYPED_TEST(GpuOps, HostPoolPinsOnlyWhatSwapsWrite) {
  using T = TypeParam;
  const int32_t layers = 2, kv_heads = 2, head_dim = 16;
  const int64_t slots = 64;
  const auto pool_slots =
      static_cast<int64_t>((int64_t{64} << 30) / (2 * layers * kv_heads * head_dim * sizeof(T)));
  cuda::CudaKvCache device(layers, slots, kv_heads, head_dim, cuda::dtype_of<T>(),
                           cuda::CudaKvCache::Memory::kDevice);
  cuda::CudaKvCache pool(layers, pool_slots, kv_heads, head_dim, cuda::dtype_of<T>(),
                         cuda::CudaKvCache::Memory::kPinnedHost);
  EXPECT_EQ(pool.pinned_bytes(), 0u);
  cpu::CpuKvCache cpu_device(layers, slots, kv_heads, head_dim);
  std::mt19937_64 rng(9);
  for (int32_t l = 0; l < layers; ++l) {
    const KvArenaView<float> a = cpu_device.layer(l);
    for (int64_t i = 0; i < slots * cpu_device.slot_floats(); ++i) {
      a.k[i] = gpu_testing::round_to<T>(testing::uniform(rng));
      a.v[i] = gpu_testing::round_to<T>(testing::uniform(rng));
    }
  }
  gpu_testing::upload_cache<T>(cpu_device, device);
  const std::vector<KvCopy> out = {{0, 0, 16}, {16, pool_slots - 16, 16}};
  cuda::swap_out(device, pool, out, this->stream());
  const size_t chunk = cuda::LazyPinnedMemory::kChunkBytes;
  EXPECT_GT(pool.pinned_bytes(), 0u);
  EXPECT_LE(pool.pinned_bytes(), 2 * 2 * static_cast<size_t>(layers) * chunk);
  // Back in, swapped: the data made the round trip through the pinned pages.
  cuda::swap_in(pool, device, std::vector<KvCopy>{{pool_slots - 16, 0, 16}, {0, 16, 16}},
                this->stream());
  this->sync();
  cpu::CpuKvCache back(layers, slots, kv_heads, head_dim);
  gpu_testing::download_cache<T>(device, back);
  const int64_t block = 16 * back.slot_floats();
  for (int32_t l = 0; l < layers; ++l) {
    for (int64_t i = 0; i < block; ++i) {
      ASSERT_EQ(back.layer(l).k[i], cpu_device.layer(l).k[block + i]) << l << " " << i;
      ASSERT_EQ(back.layer(l).v[block + i], cpu_device.layer(l).v[i]) << l << " " << i;
    }
  }
}

}  // namespace
}  // namespace kvlab
