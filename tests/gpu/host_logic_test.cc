// The CUDA back end's host-side logic, which runs (and is tested) without a GPU: the device
// KV view mirror, the step batch arrangement, copy-list analysis, the device dummy-weight
// rule, the rotary table, the decode algorithm choice, dtype parsing, cuBLAS loading and the
// executor's no-device error.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/executor.h"
#include "core/experiment.h"
#include "kernels/cpu/rotary.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/cache_ops.h"
#include "kernels/cuda/cublas_api.h"
#include "kernels/cuda/device_kv_tables.h"
#include "kernels/cuda/dummy_weights.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/step_batch.h"
#include "kernels/model/weight_source.h"
#include "tests/gpu/gpu_test_util.h"
#include "tests/kernels/kernel_test_util.h"

namespace kvlab {
namespace {

using cuda::DeviceSeqView;
using testing::LayoutAllocator;

TEST(DeviceKvView, SlotOfMirrorsKvSeqView) {
  const std::vector<int32_t> contexts = {1, 15, 16, 17, 129, 300};
  for (int32_t block_size : {0, 1, 16, 128}) {
    SCOPED_TRACE("block_size " + std::to_string(block_size));
    LayoutAllocator alloc = block_size == 0 ? LayoutAllocator::contiguous(4096)
                                            : LayoutAllocator::paged(block_size, 4096, true);
    std::vector<KvLayout> layouts;
    for (int32_t len : contexts) layouts.push_back(alloc.allocate(len));
    const KvBatchTables tables = KvBatchTables::build(layouts, contexts, 4096);
    const KvSeqView view = tables.view();
    const DeviceSeqView mirror = cuda::to_device(view);
    EXPECT_EQ(mirror.paged, block_size != 0);
    EXPECT_EQ(mirror.num_seqs, static_cast<int32_t>(contexts.size()));
    for (int32_t s = 0; s < view.num_seqs; ++s) {
      for (int32_t t = 0; t < contexts[static_cast<size_t>(s)]; ++t) {
        ASSERT_EQ(mirror.slot_of(s, t), view.slot_of(s, t)) << "sequence " << s << " token " << t;
      }
    }
  }
}

ForwardEntry entry(std::vector<int32_t> tokens, int32_t start, KvLayout layout, bool samples) {
  ForwardEntry e;
  e.tokens = std::move(tokens);
  e.start = start;
  e.layout = std::move(layout);
  e.samples = samples;
  return e;
}

TEST(StepBatch, PrefillRowsFirstThenDecodesAndSampleRowsInBatchOrder) {
  LayoutAllocator alloc = LayoutAllocator::paged(4, 256, true);
  const KvLayout a = alloc.allocate(8), b = alloc.allocate(11), c = alloc.allocate(7),
                 d = alloc.allocate(3);
  const std::vector<ForwardEntry> batch = {
      entry({10, 11, 12, 13, 14}, 3, a, true),           // a prefill chunk at positions 3..7
      entry({20}, 10, b, true),                          // a decode at position 10
      entry({30, 31, 32, 33, 34, 35, 36}, 0, c, false),  // a prompt chunk that does not sample
      entry({40}, 2, d, true),                           // a decode at position 2
  };
  const cuda::StepBatch s = cuda::build_step_batch(batch, 64, 1024, 256);
  EXPECT_EQ(s.total_rows, 14);
  EXPECT_EQ(s.prefill_rows, 12);
  EXPECT_EQ(s.decode_rows(), 2);
  EXPECT_EQ(s.token_ids,
            (std::vector<int32_t>{10, 11, 12, 13, 14, 30, 31, 32, 33, 34, 35, 36, 20, 40}));
  EXPECT_EQ(s.positions, (std::vector<int32_t>{3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 10, 2}));
  EXPECT_EQ(s.query_indptr, (std::vector<int32_t>{0, 5, 12}));
  EXPECT_EQ(s.max_prefill_q_len, 7);
  EXPECT_EQ(s.sample_rows, (std::vector<int32_t>{4, 12, 13}));
  std::vector<int64_t> slots;
  for (int32_t t = 3; t < 8; ++t) slots.push_back(a.slot_of(t));
  for (int32_t t = 0; t < 7; ++t) slots.push_back(c.slot_of(t));
  slots.push_back(b.slot_of(10));
  slots.push_back(d.slot_of(2));
  EXPECT_EQ(s.slot_mapping, slots);
  ASSERT_TRUE(s.prefill_tables.has_value());
  ASSERT_TRUE(s.decode_tables.has_value());
  EXPECT_EQ(s.prefill_tables->context_lens(), (std::vector<int32_t>{8, 7}));
  EXPECT_EQ(s.decode_tables->context_lens(), (std::vector<int32_t>{11, 3}));
  EXPECT_EQ(s.max_decode_context(), 11);
}

TEST(StepBatch, RejectsBadTokensPositionsAndMixedLayouts) {
  LayoutAllocator paged = LayoutAllocator::paged(4, 256, false);
  LayoutAllocator contiguous = LayoutAllocator::contiguous(256);
  const KvLayout p = paged.allocate(16), c = contiguous.allocate(16);
  EXPECT_THROW(
      cuda::build_step_batch(std::vector<ForwardEntry>{entry({64}, 0, p, true)}, 64, 1024, 256),
      InputError);
  EXPECT_THROW(
      cuda::build_step_batch(std::vector<ForwardEntry>{entry({1, 2}, 7, p, true)}, 64, 8, 256),
      InvariantError);
  EXPECT_THROW(cuda::build_step_batch(
                   std::vector<ForwardEntry>{entry({1, 2}, 0, p, true), entry({3}, 4, c, true)}, 64,
                   1024, 256),
               InvariantError);
}

TEST(CopyLists, IndependenceAndMerging) {
  using V = std::vector<KvCopy>;
  EXPECT_TRUE(cuda::copies_independent(V{}));
  EXPECT_TRUE(cuda::copies_independent(V{{0, 10, 4}, {4, 20, 4}, {100, 30, 2}}));
  EXPECT_FALSE(cuda::copies_independent(V{{0, 10, 4}, {50, 12, 4}}));  // destinations overlap
  EXPECT_FALSE(cuda::copies_independent(V{{0, 10, 4}, {12, 40, 4}}));  // reads another's write
  EXPECT_FALSE(cuda::copies_independent(V{{12, 40, 4}, {0, 10, 4}}));  // in either order
  EXPECT_TRUE(cuda::copies_independent(V{{0, 10, 4}, {14, 40, 4}, {5, 0, 0}}));

  EXPECT_EQ(cuda::merge_adjacent(V{{0, 100, 4}, {4, 104, 4}, {8, 108, 2}, {20, 0, 1}}, false),
            (V{{0, 100, 10}, {20, 0, 1}}));
  EXPECT_EQ(cuda::merge_adjacent(V{{0, 100, 4}, {0, 0, 0}, {5, 104, 4}}, false),
            (V{{0, 100, 4}, {5, 104, 4}}));
  // Within one arena, 0->2 then 2->4 (n = 2) chains through slots 2..3: joined it would be a
  // self-overlapping 0->2 copy of 4 slots with another meaning. Kept apart.
  EXPECT_EQ(cuda::merge_adjacent(V{{0, 2, 2}, {2, 4, 2}}, true), (V{{0, 2, 2}, {2, 4, 2}}));
  EXPECT_EQ(cuda::merge_adjacent(V{{0, 8, 2}, {2, 10, 2}}, true), (V{{0, 8, 4}}));
}

TEST(DummyWeights, TensorSeedIsTheCpuSourcesAndValuesFollowTheRule) {
  // DummyWeightSource draws element 0 of a tensor from mt19937_64(seed ^ FNV-1a(name)): the
  // same seed our rule uses, which pins dummy_tensor_seed to the CPU's hash.
  const uint64_t seed = 1234;
  const std::string name = "model.layers.0.mlp.down_proj.weight";
  const int64_t in = 48;
  std::vector<float> cpu_values(static_cast<size_t>(in));
  const int64_t shape[] = {1, in};
  DummyWeightSource(seed).load(name, shape, cpu_values);
  std::mt19937_64 rng(cuda::dummy_tensor_seed(seed, name));
  const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  const double a = std::sqrt(3.0 / in);
  EXPECT_EQ(cpu_values[0], static_cast<float>(a * (2.0 * u - 1.0)));

  const cuda::DummyRange matrix = cuda::dummy_range(name, false, in);
  EXPECT_FLOAT_EQ(matrix.half_width, static_cast<float>(a));
  EXPECT_EQ(matrix.center, 0.0f);
  const cuda::DummyRange embed = cuda::dummy_range("model.embed_tokens.weight", false, 4096);
  EXPECT_EQ(embed.center, 0.0f);
  EXPECT_EQ(embed.half_width, 1.0f);
  const cuda::DummyRange norm = cuda::dummy_range("model.norm.weight", true, 4096);
  EXPECT_EQ(norm.center, 1.0f);
  EXPECT_FLOAT_EQ(norm.half_width, 0.1f);

  // Uniform on [center - w, center + w): bounds, mean and variance over 200k draws.
  const uint64_t tensor_seed = cuda::dummy_tensor_seed(seed, name);
  const int n = 200000;
  double sum = 0, sum_sq = 0;
  for (int i = 0; i < n; ++i) {
    const float x = cuda::dummy_weight_value(tensor_seed, i, norm);
    ASSERT_GE(x, 0.9f);
    ASSERT_LT(x, 1.1f);
    sum += x;
    sum_sq += (x - 1.0) * (x - 1.0);
  }
  EXPECT_NEAR(sum / n, 1.0, 1e-3);
  EXPECT_NEAR(sum_sq / n, 0.01 / 3.0, 1e-4);
  EXPECT_EQ(cuda::dummy_weight_value(tensor_seed, 77, norm),
            cuda::dummy_weight_value(tensor_seed, 77, norm));
  EXPECT_NE(cuda::dummy_weight_value(tensor_seed, 77, norm),
            cuda::dummy_weight_value(tensor_seed, 78, norm));
}

TEST(RotaryTable, EqualsTheCpuRotationOfUnitVectors) {
  const int32_t head_dim = 16, half = 8, max_positions = 300;
  const double theta = 10000.0;
  const std::vector<float> table = cuda::RotaryTable::host_table(head_dim, max_positions, theta);
  ASSERT_EQ(table.size(), size_t{2} * max_positions * half);
  for (int32_t position : {0, 1, 17, 299}) {
    for (int32_t i = 0; i < half; ++i) {
      // The CPU op on e_i gives (cos, sin) of the angle at (position, i).
      cpu::RowMatrix x = cpu::RowMatrix::Zero(1, head_dim);
      x(0, i) = 1.0f;
      const int32_t positions[] = {position};
      cpu::apply_rotary(x, head_dim, positions, theta);
      const size_t at = static_cast<size_t>(position) * half + static_cast<size_t>(i);
      EXPECT_EQ(table[at], x(0, i)) << "cos at position " << position << ", pair " << i;
      EXPECT_EQ(table[static_cast<size_t>(max_positions) * half + at], x(0, i + half))
          << "sin at position " << position << ", pair " << i;
    }
  }
}

TEST(DecodeAlgorithm, VllmV1V2Rule) {
  using cuda::DecodeAlgorithm;
  EXPECT_EQ(cuda::choose_decode_algorithm(1, 32, 512, 512), DecodeAlgorithm::kOnePass);
  EXPECT_EQ(cuda::choose_decode_algorithm(1, 32, 513, 512), DecodeAlgorithm::kSplitK);
  EXPECT_EQ(cuda::choose_decode_algorithm(32, 32, 4096, 512), DecodeAlgorithm::kOnePass);
  EXPECT_EQ(cuda::choose_decode_algorithm(16, 32, 4096, 512), DecodeAlgorithm::kSplitK);
  EXPECT_EQ(cuda::choose_decode_algorithm(256, 32, 8193, 512), DecodeAlgorithm::kSplitK);
  EXPECT_EQ(cuda::decode_workspace_bytes(2, 4, 128, 512, 512), 0);
  EXPECT_EQ(cuda::decode_workspace_bytes(2, 4, 128, 1025, 512), int64_t{2} * 4 * 3 * 130 * 4);
}

TEST(DType, ParsesBackendDtypeValues) {
  EXPECT_EQ(cuda::parse_dtype("fp32"), cuda::DType::kF32);
  EXPECT_EQ(cuda::parse_dtype("fp16"), cuda::DType::kF16);
  EXPECT_EQ(cuda::parse_dtype("bf16"), cuda::DType::kBF16);
  EXPECT_EQ(cuda::dtype_bytes(cuda::DType::kBF16), 2);
  try {
    cuda::parse_dtype("fp8");
    FAIL() << "fp8 accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("backend.dtype"), std::string::npos) << e.what();
  }
}

TEST(CublasApi, LoadsWithoutADevice) {
  // dlopen of libcublas needs no GPU; the status names prove the symbols resolved.
  EXPECT_STREQ(cuda::cublas_api().status_name(CUBLAS_STATUS_SUCCESS), "CUBLAS_STATUS_SUCCESS");
}

Config cuda_config() {
  return Config::parse(
      "[workload]\nnum_requests = 2\narrival = burst\nprompt_len = 8\noutput_len = 4\n"
      "[model]\nname = tiny-llama\n[hardware]\nname = a10g\n"
      "[memory]\ncapacity_slots = 1024\n[backend]\nkind = cuda\ndtype = fp32\n",
      "cuda_test.ini");
}

TEST(CudaExecutor, IsRegistered) { EXPECT_TRUE(executors().contains("cuda")); }

TEST(CudaExecutor, WithoutADeviceConstructionIsAnInputError) {
  if (gpu_testing::no_device_reason().empty()) GTEST_SKIP() << "a CUDA device is present";
  const ExperimentConfig config = resolve_experiment(cuda_config());
  try {
    executors().create("cuda", config);
    FAIL() << "created a cuda executor without a device";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("backend.kind = cuda: no CUDA device ("), std::string::npos) << what;
    EXPECT_NE(what.find("cuda_test.ini:"), std::string::npos)
        << "names where backend.kind is set: " << what;
  }
}

}  // namespace
}  // namespace kvlab
