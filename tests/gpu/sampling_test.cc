// The GPU sampler (kernels/cuda/sampling.h) against cpu::sample_token: token equality on random
// logits for every parameter case (greedy exact; random draws equal except mismatches explained
// by a rounding-sized margin at a CPU boundary, at most 0.1%), several draws per row, row
// strides, determinism, the empirical distribution over many seeds against
// cpu::sampling_distribution, and the checked API's errors.
#include "kernels/cpu/sampling.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/errors.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/sampling.h"
#include "tests/gpu/gpu_test_util.h"
#include "tests/gpu/sampling_test_util.h"

namespace kvlab {
namespace {

using gpu_testing::DrawInput;

// Samples every draw on the device: draw i reads row rows_of[i] of a [rows][stride] buffer
// whose first vocab columns are `rows`' logits (the rest NaN, which must never be read).
std::vector<int32_t> device_sample(const std::vector<std::vector<float>>& rows,
                                   const std::vector<cuda::SampleDraw>& draws, int64_t pad = 0) {
  const auto vocab = static_cast<int32_t>(rows.at(0).size());
  const int64_t stride = vocab + pad;
  std::vector<float> host(rows.size() * static_cast<size_t>(stride), std::nanf(""));
  for (size_t r = 0; r < rows.size(); ++r) {
    std::copy(rows[r].begin(), rows[r].end(), host.begin() + static_cast<int64_t>(r) * stride);
  }
  const cuda::DeviceBuffer logits = gpu_testing::device_copy(host);
  cuda::DeviceBuffer out(std::max<size_t>(1, draws.size()) * sizeof(int32_t));
  cuda::CudaStream stream;
  cuda::DeviceSampler sampler;
  sampler.sample(logits.as<const float>(), stride, static_cast<int64_t>(rows.size()), vocab, draws,
                 out.as<int32_t>(), stream.get());
  stream.synchronize("device_sample");
  std::vector<int32_t> ids(draws.size());
  if (!ids.empty()) {
    cuda::check_cuda(
        cudaMemcpy(ids.data(), out.data(), ids.size() * sizeof(int32_t), cudaMemcpyDeviceToHost),
        "ids");
  }
  return ids;
}

std::vector<int32_t> device_sample(const std::vector<DrawInput>& inputs, int64_t pad = 0) {
  std::vector<std::vector<float>> rows;
  std::vector<cuda::SampleDraw> draws;
  for (size_t i = 0; i < inputs.size(); ++i) {
    rows.push_back(inputs[i].logits);
    draws.push_back(gpu_testing::as_draw(inputs[i], static_cast<int64_t>(i)));
  }
  return device_sample(rows, draws, pad);
}

class GpuSampling : public ::testing::TestWithParam<gpu_testing::SamplingCase> {};

TEST_P(GpuSampling, EqualsCpuSampleToken) {
  KVLAB_REQUIRE_CUDA_DEVICE();
  const gpu_testing::SamplingCase& c = GetParam();
  for (int32_t vocab : {1, 7, 1000, 32000, 151936}) {
    SCOPED_TRACE("vocab " + std::to_string(vocab));
    const int count = vocab > 100000 ? 24 : (vocab > 10000 ? 200 : 400);
    const std::vector<DrawInput> draws = gpu_testing::make_draws(c, vocab, count, 500 + vocab);
    const std::vector<int32_t> got = device_sample(draws, vocab % 2 == 0 ? 3 : 0);
    EXPECT_TRUE(gpu_testing::agrees_with_cpu(draws, got));
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, GpuSampling, ::testing::ValuesIn(gpu_testing::sampling_cases()),
                         [](const auto& info) {
                           std::string name = info.param.name;
                           for (char& ch : name) {
                             if (ch == '.') ch = '_';
                           }
                           return name;
                         });

// Many draws from one row (the n samples of a finished prompt) and draws in any row order,
// each as the CPU would draw it; and the same call twice gives the same ids.
TEST(GpuSamplingBatch, DrawsShareRowsAndAreDeterministic) {
  KVLAB_REQUIRE_CUDA_DEVICE();
  std::mt19937_64 rng(11);
  const int32_t vocab = 5000;
  std::vector<std::vector<float>> rows;
  for (int r = 0; r < 3; ++r) {
    rows.push_back(
        gpu_testing::random_logits(vocab, gpu_testing::SamplingCase::Logits::kNormal, rng));
  }
  std::vector<DrawInput> inputs;
  std::vector<cuda::SampleDraw> draws;
  const std::vector<int64_t> row_of = {2, 0, 0, 0, 1, 2, 1, 0};
  for (size_t i = 0; i < row_of.size(); ++i) {
    DrawInput d;
    d.logits = rows[static_cast<size_t>(row_of[i])];
    d.params = gpu_testing::params(0.9f, i % 2 == 0 ? 0 : 40, 0.95f, i % 3 == 0 ? 1.2f : 1.0f);
    d.params.seed = 42;
    d.sample_index = static_cast<int32_t>(i);
    d.position = 17;
    d.history = {5, 6, 7, 6};
    inputs.push_back(d);
  }
  for (size_t i = 0; i < inputs.size(); ++i)
    draws.push_back(gpu_testing::as_draw(inputs[i], row_of[i]));
  const std::vector<int32_t> first = device_sample(rows, draws);
  EXPECT_TRUE(gpu_testing::agrees_with_cpu(inputs, first));
  for (int repeat = 0; repeat < 3; ++repeat) EXPECT_EQ(device_sample(rows, draws), first);
}

// The empirical distribution of 200000 draws (one row, seeds varying by position) against
// cpu::sampling_distribution: a chi-square test over the kept tokens, and nothing drawn
// outside them. The seeds are fixed, so this is deterministic.
TEST(GpuSamplingDistribution, MatchesSamplingDistribution) {
  KVLAB_REQUIRE_CUDA_DEVICE();
  std::mt19937_64 rng(5);
  const int32_t vocab = 256;
  const std::vector<float> logits =
      gpu_testing::random_logits(vocab, gpu_testing::SamplingCase::Logits::kNormal, rng);
  for (const SamplingParams& p :
       {gpu_testing::params(1.0f, 0, 1.0f, 1.0f), gpu_testing::params(0.8f, 30, 0.9f, 1.0f),
        gpu_testing::params(1.5f, 0, 0.7f, 1.3f)}) {
    SCOPED_TRACE("top_k " + std::to_string(p.top_k) + " top_p " + std::to_string(p.top_p));
    const std::vector<int32_t> history = {1, 2, 3, 100, 200};
    const std::vector<double> probs = cpu::sampling_distribution(logits, p, history);
    const int n = 200000;
    std::vector<cuda::SampleDraw> draws(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      cuda::SampleDraw& d = draws[static_cast<size_t>(i)];
      d.row = 0;
      d.params = p;
      d.params.seed = 2024;
      d.position = i;
      d.history = history;
    }
    const std::vector<int32_t> ids = device_sample({logits}, draws);
    std::vector<double> counts(static_cast<size_t>(vocab), 0.0);
    for (int32_t id : ids) {
      ASSERT_TRUE(id >= 0 && id < vocab);
      ASSERT_GT(probs[static_cast<size_t>(id)], 0.0) << "drew " << id << ", outside the kept set";
      counts[static_cast<size_t>(id)] += 1.0;
    }
    double chi2 = 0.0;
    int kept = 0;
    for (int32_t t = 0; t < vocab; ++t) {
      const double expected = probs[static_cast<size_t>(t)] * n;
      if (expected == 0.0) continue;
      ++kept;
      const double diff = counts[static_cast<size_t>(t)] - expected;
      chi2 += diff * diff / expected;
    }
    const double df = kept - 1;
    // Mean df, sd sqrt(2 df): 6 sd is far in the tail for a correct sampler, while a biased one
    // (e.g. a wrong temperature or cut) is off by thousands at n = 200000.
    EXPECT_LT(chi2, df + 6.0 * std::sqrt(2.0 * df)) << kept << " kept tokens";
  }
}

TEST(GpuSamplingErrors, RefusesBadRowsParametersAndShapes) {
  KVLAB_REQUIRE_CUDA_DEVICE();
  const std::vector<float> logits(10, 0.0f);
  const cuda::DeviceBuffer d_logits = gpu_testing::device_copy(logits);
  cuda::DeviceBuffer out(4 * sizeof(int32_t));
  cuda::CudaStream stream;
  cuda::DeviceSampler sampler;
  cuda::SampleDraw draw;
  draw.params = gpu_testing::params(1.0f, 0, 1.0f, 1.0f);
  draw.row = 1;  // only row 0 exists
  EXPECT_THROW(sampler.sample(d_logits.as<const float>(), 10, 1, 10, {&draw, 1}, out.as<int32_t>(),
                              stream.get()),
               InvariantError);
  draw.row = 0;
  draw.params.top_p = 0.0f;
  EXPECT_THROW(sampler.sample(d_logits.as<const float>(), 10, 1, 10, {&draw, 1}, out.as<int32_t>(),
                              stream.get()),
               InputError);
  draw.params.top_p = 1.0f;
  EXPECT_THROW(sampler.sample(d_logits.as<const float>(), 5, 1, 10, {&draw, 1}, out.as<int32_t>(),
                              stream.get()),
               InvariantError);  // stride < vocab
  sampler.sample(d_logits.as<const float>(), 10, 1, 10, {&draw, 1}, out.as<int32_t>(),
                 stream.get());
  stream.synchronize("sample");
}

}  // namespace
}  // namespace kvlab
