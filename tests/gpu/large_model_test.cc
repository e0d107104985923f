// llama-2-7b on the GPU (label `long`: 13 GB of fp16 weights generated on the device, so it
// needs a large GPU and a minute): the device-generated dummy weights give a working model,
// and the cuda back end runs a small workload end to end with the KV capacity measured on the
// device (neither hardware.kv_cache_gb nor memory.capacity_slots set: the capacity probe).
// Skipped without a GPU.
#include <gtest/gtest.h>

#include <set>

#include "core/experiment.h"
#include "app/experiment_runner.h"
#include "kernels/cpu/sampling.h"
#include "kernels/cuda/device_query.h"
#include "kernels/cuda/llama_model.h"
#include "tests/gpu/gpu_test_util.h"
#include "tests/kernels/kernel_test_util.h"
#include "tests/kernels/model_test_util.h"

namespace kvlab {
namespace {

TEST(GpuLargeModel, Llama2_7bFp16DeviceWeightsGenerate) {
  KVLAB_REQUIRE_CUDA_DEVICE();
  const ModelSpec spec = model_catalog().get("llama-2-7b");
  cuda::CudaStream stream;
  cuda::CudaLlamaModel model(spec, cuda::DType::kF16, 0,
                             cuda::CudaLlamaWeights::default_source(spec), stream.get());
  EXPECT_EQ(model.weights().source(), cuda::CudaLlamaWeights::Source::kDevice);
  cuda::CudaKvCache cache = model.make_kv_cache(1024);
  testing::LayoutAllocator alloc = testing::LayoutAllocator::paged(16, 1024, true);
  const KvLayout layout = alloc.allocate(600);
  std::vector<int32_t> tokens = testing::random_prompt(512, spec.vocab_size, 5);
  std::set<int32_t> generated;
  for (int step = 0; step < 9; ++step) {
    ForwardEntry e;
    e.start = step == 0 ? 0 : static_cast<int32_t>(tokens.size()) - 1;
    e.tokens.assign(tokens.begin() + e.start, tokens.end());
    e.layout = layout;
    const cpu::RowMatrix logits = model.forward_to_host(std::vector<ForwardEntry>{e}, cache);
    ASSERT_TRUE(logits.allFinite()) << "step " << step;
    const int32_t next =
        cpu::argmax(std::span<const float>(logits.data(), static_cast<size_t>(logits.cols())));
    tokens.push_back(next);
    generated.insert(next);
  }
  EXPECT_GT(generated.size(), 1u) << "greedy tokens should depend on the context";
}

TEST(GpuLargeModel, CudaBackEndRunsLlama2_7bWithDerivedCapacity) {
  KVLAB_REQUIRE_CUDA_DEVICE();
  const Config config = Config::parse(
      "[workload]\nnum_requests = 16\narrival = burst\nprompt_len = uniform:64:512\n"
      "output_len = uniform:8:32\nseed = 3\n"
      "[model]\nname = llama-2-7b\n[hardware]\nname = h100-sxm-80gb\n"
      "[memory]\npolicy = paged\nblock_size = 16\n[backend]\nkind = cuda\ndtype = fp16\n",
      "large_model_test.ini");
  std::vector<RunResult> results;
  try {
    results = run_experiment(config, RunOptions{});
  } catch (const InputError& e) {
    // A GPU too small for the weights: the probe must say which keys to set.
    const std::string what = e.what();
    EXPECT_NE(what.find("hardware.kv_cache_gb"), std::string::npos) << what;
    GTEST_SKIP() << "this GPU cannot hold llama-2-7b in fp16: " << what;
  }
  ASSERT_EQ(results.size(), 1u);
  for (const RequestRecord& q : results[0].requests) {
    EXPECT_EQ(q.outcome, RequestOutcome::kFinished) << "request " << q.id;
    ASSERT_EQ(q.token_ids.size(), 1u);
    EXPECT_EQ(static_cast<int32_t>(q.token_ids[0].size()), q.output_len);
  }
  EXPECT_GT(results[0].summary.get("throughput_tok_s"), 0.0);
  // The capacity came from the device: at most 0.9 (gpu_memory_utilization) of its free
  // memory (measured again now that the executor is gone) in 512 KiB fp16 slots.
  const double slots = results[0].summary.get("kv_capacity_slots");
  const double free_bytes = static_cast<double>(cuda::query_device(0).free_bytes);
  EXPECT_GT(slots, 0.0);
  EXPECT_LE(slots, 0.9 * free_bytes / (2.0 * 32 * 32 * 128 * 2));
}

}  // namespace
}  // namespace kvlab
