// Generating a synthetic workload: 1,000,000 requests drawn one at a time by open_workload()
// (constant memory), and, for comparison, all at once by load_workload() (a vector of them).
// One iteration is the whole workload; items/s is requests per second. Lengths: uniform
// prompts and lognormal outputs; arrivals: poisson or gamma (burstiness 0.5); the system
// prompt case names every request (one prefix entry each).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>

#include "core/workload.h"
#include "traces/workload_loader.h"

namespace kvlab {
namespace {

constexpr int64_t kRequests = 1'000'000;

enum Variant { kPoisson, kGamma, kSystemPrompt };

WorkloadConfig synthetic(Variant variant) {
  WorkloadConfig c;
  c.num_requests = kRequests;
  c.seed = 1;
  c.arrival = variant == kGamma ? "gamma" : "poisson";
  c.rate = 50.0;
  c.burstiness = 0.5;
  c.prompt_len = "uniform:16:2048";
  c.output_len = "lognormal:5:1";
  if (variant == kSystemPrompt) {
    c.shared_prefix_len = 256;
    c.shared_prefix_groups = 8;
  }
  return c;
}

void BM_OpenWorkloadLazy(benchmark::State& state, Variant variant) {
  const WorkloadConfig c = synthetic(variant);
  int64_t given = 0;
  for (auto _ : state) {
    const std::unique_ptr<RequestSource> source = open_workload(c);
    RequestSpec spec;
    int64_t tokens = 0;
    while (source->next(spec)) tokens += spec.prompt_len;
    benchmark::DoNotOptimize(tokens);
    given += source->report().rows_read;
  }
  state.SetItemsProcessed(given);
}

void BM_LoadWorkloadVector(benchmark::State& state, Variant variant) {
  const WorkloadConfig c = synthetic(variant);
  int64_t given = 0;
  for (auto _ : state) {
    const Workload w = load_workload(c);
    benchmark::DoNotOptimize(w.requests.data());
    given += static_cast<int64_t>(w.requests.size());
  }
  state.SetItemsProcessed(given);
}

}  // namespace

BENCHMARK_CAPTURE(BM_OpenWorkloadLazy, poisson, kPoisson)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_OpenWorkloadLazy, gamma, kGamma)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_OpenWorkloadLazy, system_prompt, kSystemPrompt)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_LoadWorkloadVector, poisson, kPoisson)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_LoadWorkloadVector, system_prompt, kSystemPrompt)
    ->Unit(benchmark::kMillisecond);

}  // namespace kvlab
