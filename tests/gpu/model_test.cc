// The device Llama and OPT forwards against the CPU models (kernels/model/llama_model.h,
// opt_model.h): the same
// batches (whole prompts, chunks that follow earlier chunks, decodes, entries that do not
// sample) over the same layouts give the same logits. fp32 with host-generated weights is
// the CPU model's computation up to summation order: elementwise 1e-4 (relative, on the
// logits' scale). fp16 / bf16 compute with those weights rounded: normwise relative error
// of the logits within 3e-2 / 1e-1. Device-generated weights follow dummy_weights.h's rule.
// Skipped without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/errors.h"
#include "kernels/cpu/sampling.h"
#include "kernels/cuda/dummy_weights.h"
#include "kernels/cuda/llama_model.h"
#include "kernels/cuda/opt_model.h"
#include "kernels/model/llama_model.h"
#include "kernels/model/opt_model.h"
#include "kernels/model/weight_source.h"
#include "tests/gpu/gpu_test_util.h"
#include "tests/kernels/kernel_test_util.h"
#include "tests/kernels/model_test_util.h"

namespace kvlab {
namespace {

using gpu_testing::all_close;
using testing::LayoutAllocator;

constexpr uint64_t kSeed = 3;

double normwise_error(const cpu::RowMatrix& a, const cpu::RowMatrix& b) {
  return (a - b).norm() / std::max(b.norm(), 1e-30f);
}

template <typename T>
void expect_logits_close(const cpu::RowMatrix& gpu, const cpu::RowMatrix& cpu_logits) {
  ASSERT_EQ(gpu.rows(), cpu_logits.rows());
  ASSERT_EQ(gpu.cols(), cpu_logits.cols());
  if constexpr (std::is_same_v<T, float>) {
    EXPECT_TRUE(all_close(gpu, cpu_logits, 1e-4));
  } else {
    const double limit = std::is_same_v<T, __half> ? 3e-2 : 1e-1;
    EXPECT_LE(normwise_error(gpu, cpu_logits), limit);
  }
}

template <typename T>
class GpuModel : public ::testing::Test {
 protected:
  void SetUp() override {
    KVLAB_REQUIRE_CUDA_DEVICE();
    stream_ = std::make_unique<cuda::CudaStream>();
  }
  std::unique_ptr<cuda::CudaStream> stream_;
};

using StorageTypes = ::testing::Types<float, __half, __nv_bfloat16>;
TYPED_TEST_SUITE(GpuModel, StorageTypes);

ForwardEntry entry(const std::vector<int32_t>& tokens, int32_t start, int32_t count,
                   const KvLayout& layout, bool samples) {
  ForwardEntry e;
  e.tokens.assign(tokens.begin() + start, tokens.begin() + start + count);
  e.start = start;
  e.layout = layout;
  e.samples = samples;
  return e;
}

// Steps of prompts, chunks and decodes through both models over paged and contiguous layouts;
// the logits of every step compared.
template <typename T>
void expect_steps_match(const DecoderModel& cpu_model, cuda::CudaDecoderModel& gpu_model) {
  const ModelSpec& spec = cpu_model.spec();
  for (int32_t block_size : {0, 1, 16}) {
    SCOPED_TRACE(block_size == 0 ? std::string("contiguous")
                                 : "block_size " + std::to_string(block_size));
    const int64_t slots = 2048;
    LayoutAllocator alloc = block_size == 0 ? LayoutAllocator::contiguous(slots)
                                            : LayoutAllocator::paged(block_size, slots, true);
    cpu::CpuKvCache cpu_cache = cpu_model.make_kv_cache(slots);
    cuda::CudaKvCache gpu_cache = gpu_model.make_kv_cache(slots);
    // Three sequences: their tokens grow with the CPU model's greedy choices.
    std::vector<std::vector<int32_t>> tokens = {testing::random_prompt(37, spec.vocab_size, 1),
                                                testing::random_prompt(5, spec.vocab_size, 2),
                                                testing::random_prompt(90, spec.vocab_size, 3)};
    std::vector<KvLayout> layouts;
    for (int i = 0; i < 3; ++i) layouts.push_back(alloc.allocate(128));
    auto run = [&](const std::vector<ForwardEntry>& batch, const std::vector<int>& samplers) {
      const cpu::RowMatrix want = cpu_model.forward(batch, cpu_cache);
      const cpu::RowMatrix got = gpu_model.forward_to_host(batch, gpu_cache);
      expect_logits_close<T>(got, want);
      for (size_t r = 0; r < samplers.size(); ++r) {
        const auto row = static_cast<Eigen::Index>(r);
        tokens[static_cast<size_t>(samplers[r])].push_back(cpu::argmax(
            std::span<const float>(want.row(row).data(), static_cast<size_t>(want.cols()))));
      }
    };
    // Step 1: two whole prompts and the first chunk of a third (which does not sample).
    run({entry(tokens[0], 0, 37, layouts[0], true), entry(tokens[1], 0, 5, layouts[1], true),
         entry(tokens[2], 0, 40, layouts[2], false)},
        {0, 1});
    // Step 2: the rest of the third prompt mixed with two decodes.
    run({entry(tokens[0], 37, 1, layouts[0], true), entry(tokens[2], 40, 50, layouts[2], true),
         entry(tokens[1], 5, 1, layouts[1], true)},
        {0, 2, 1});
    // Steps 3-8: decodes only (split-K and one pass: contexts stay short, auto picks one pass).
    for (int step = 0; step < 6; ++step) {
      std::vector<ForwardEntry> batch;
      for (int i = 0; i < 3; ++i) {
        const auto& t = tokens[static_cast<size_t>(i)];
        batch.push_back(
            entry(t, static_cast<int32_t>(t.size()) - 1, 1, layouts[static_cast<size_t>(i)], true));
      }
      run(batch, {0, 1, 2});
    }
  }
}

TYPED_TEST(GpuModel, LogitsMatchTheCpuModelStepByStep) {
  using T = TypeParam;
  const ModelSpec spec = testing::tiny_llama_spec();
  const LlamaModel cpu_model(spec, DummyWeightSource(kSeed));
  cuda::CudaLlamaModel gpu_model(spec, cuda::dtype_of<T>(), kSeed,
                                 cuda::CudaLlamaWeights::Source::kHost, this->stream_->get());
  expect_steps_match<T>(cpu_model, gpu_model);
}

TYPED_TEST(GpuModel, OptLogitsMatchTheCpuOptModelStepByStep) {
  using T = TypeParam;
  const ModelSpec spec = testing::tiny_opt_spec();
  const OptModel cpu_model(spec, DummyWeightSource(kSeed));
  cuda::CudaOptModel gpu_model(spec, cuda::dtype_of<T>(), kSeed,
                               cuda::CudaOptWeights::Source::kHost, this->stream_->get());
  expect_steps_match<T>(cpu_model, gpu_model);
}

TYPED_TEST(GpuModel, MakeCudaDecoderModelPicksTheFamily) {
  using T = TypeParam;
  const ModelSpec opt = testing::tiny_opt_spec();
  const auto model = cuda::make_cuda_decoder_model(
      opt, cuda::dtype_of<T>(), kSeed, cuda::CudaLlamaWeights::Source::kHost, this->stream_->get());
  EXPECT_NE(dynamic_cast<const cuda::CudaOptModel*>(model.get()), nullptr);
  ModelSpec unknown = opt;
  unknown.family = "gpt-neox";
  EXPECT_THROW(cuda::make_cuda_decoder_model(unknown, cuda::dtype_of<T>(), kSeed,
                                             cuda::CudaLlamaWeights::Source::kHost,
                                             this->stream_->get()),
               InputError);
}

TYPED_TEST(GpuModel, OptPositionPastTheTableIsAnInputError) {
  using T = TypeParam;
  ModelSpec spec = testing::tiny_opt_spec();
  spec.max_seq_len = 24;
  cuda::CudaOptModel model(spec, cuda::dtype_of<T>(), kSeed, cuda::CudaOptWeights::Source::kHost,
                           this->stream_->get());
  cuda::CudaKvCache cache = model.make_kv_cache(64);
  LayoutAllocator alloc = LayoutAllocator::paged(16, 64, false);
  const std::vector<int32_t> prompt = testing::random_prompt(25, spec.vocab_size, 4);
  const KvLayout layout = alloc.allocate(25);
  EXPECT_NO_THROW(model.forward_to_host(
      std::vector<ForwardEntry>{entry(prompt, 0, 24, layout, true)}, cache));
  EXPECT_THROW(model.forward_to_host(
                   std::vector<ForwardEntry>{entry(prompt, 24, 1, layout, true)}, cache),
               InputError);
}

TYPED_TEST(GpuModel, DeviceGeneratedWeightsFollowTheRule) {
  using T = TypeParam;
  const ModelSpec spec = testing::tiny_llama_spec();
  cuda::CudaLlamaModel model(spec, cuda::dtype_of<T>(), kSeed,
                             cuda::CudaLlamaWeights::Source::kDevice, this->stream_->get());
  const cuda::CudaLlamaWeights& w = model.weights();
  // k_proj of layer 0: rows [q_width, q_width + kv_width) of the fused qkv_proj.
  const int64_t hidden = spec.hidden_size, q_width = int64_t{spec.num_heads} * spec.head_dim;
  const int64_t k_elements = int64_t{spec.num_kv_heads} * spec.head_dim * hidden;
  std::vector<T> k(static_cast<size_t>(k_elements));
  cuda::check_cuda(cudaMemcpy(k.data(), w.at<T>(w.layer(0).qkv_proj) + q_width * hidden,
                              k.size() * sizeof(T), cudaMemcpyDeviceToHost),
                   "download k_proj");
  const std::string name = "model.layers.0.self_attn.k_proj.weight";
  const uint64_t seed = cuda::dummy_tensor_seed(kSeed, name);
  const cuda::DummyRange range = cuda::dummy_range(name, false, hidden);
  for (int64_t i = 0; i < k_elements; ++i) {
    ASSERT_EQ(cuda::to_float_host(k[static_cast<size_t>(i)]),
              gpu_testing::round_to<T>(cuda::dummy_weight_value(seed, i, range)))
        << "element " << i;
  }
  // A forward over them runs and gives finite logits.
  cuda::CudaKvCache cache = model.make_kv_cache(64);
  LayoutAllocator alloc = LayoutAllocator::paged(16, 64, false);
  const std::vector<int32_t> prompt = testing::random_prompt(20, spec.vocab_size, 9);
  const cpu::RowMatrix logits = model.forward_to_host(
      std::vector<ForwardEntry>{entry(prompt, 0, 20, alloc.allocate(20), true)}, cache);
  ASSERT_EQ(logits.rows(), 1);
  EXPECT_TRUE(logits.allFinite());
}

TYPED_TEST(GpuModel, OptDeviceGeneratedWeightsFollowTheRule) {
  using T = TypeParam;
  const ModelSpec spec = testing::tiny_opt_spec();
  cuda::CudaOptModel model(spec, cuda::dtype_of<T>(), kSeed, cuda::CudaOptWeights::Source::kDevice,
                           this->stream_->get());
  const cuda::CudaOptWeights& w = model.weights();
  auto expect_rule = [&](const T* device, int64_t count, const std::string& name, bool is_vector,
                         int64_t cols) {
    SCOPED_TRACE(name);
    std::vector<T> host(static_cast<size_t>(count));
    cuda::check_cuda(
        cudaMemcpy(host.data(), device, host.size() * sizeof(T), cudaMemcpyDeviceToHost),
        "download");
    const uint64_t seed = cuda::dummy_tensor_seed(kSeed, name);
    const cuda::DummyRange range = cuda::dummy_range(name, is_vector, cols);
    for (int64_t i = 0; i < count; ++i) {
      ASSERT_EQ(cuda::to_float_host(host[static_cast<size_t>(i)]),
                gpu_testing::round_to<T>(cuda::dummy_weight_value(seed, i, range)))
          << "element " << i;
    }
  };
  const int64_t hidden = spec.hidden_size, width = int64_t{spec.num_heads} * spec.head_dim;
  expect_rule(w.at<T>(w.embed_positions()), (int64_t{spec.max_seq_len} + 2) * hidden,
              "model.decoder.embed_positions.weight", false, hidden);
  expect_rule(w.at<T>(w.layer(1).qkv_bias) + width, width,
              "model.decoder.layers.1.self_attn.k_proj.bias", true, width);
  expect_rule(w.at<T>(w.layer(0).fc1_bias), spec.ffn_size, "model.decoder.layers.0.fc1.bias", true,
              spec.ffn_size);
  cuda::CudaKvCache cache = model.make_kv_cache(64);
  LayoutAllocator alloc = LayoutAllocator::paged(16, 64, false);
  const std::vector<int32_t> prompt = testing::random_prompt(20, spec.vocab_size, 9);
  const cpu::RowMatrix logits = model.forward_to_host(
      std::vector<ForwardEntry>{entry(prompt, 0, 20, alloc.allocate(20), true)}, cache);
  ASSERT_EQ(logits.rows(), 1);
  EXPECT_TRUE(logits.allFinite());
}

}  // namespace
}  // namespace kvlab
