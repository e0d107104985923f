// The CUDA driver's virtual-memory latencies per page size (Google Benchmark;
// bin/bench_gpu_vmm): what the simulator's mapping cost (backend.vmm_map_us / vmm_unmap_us,
// sim/roofline_cost_model.h) would take from this GPU instead of the vAttention paper.
//
//  - BM_VmmMap/page:P: map one physical page (cuMemCreate'd beforehand) into reserved address
//    space and grant the device access: cuMemMap + cuMemSetAccess, what the cuda back end's
//    arena does per page per layer and K/V tensor (kernels/cuda/vmm_kv_arena.h);
//  - BM_VmmUnmap/page:P: cuMemUnmap of one such page;
//  - BM_VmmCreate/page:P: cuMemCreate + cuMemRelease of one page (vAttention allocates its pool
//    up front, so this is start-up cost, not per-token cost; reported for completeness).
//
// P in {64 KiB, 128 KiB, 256 KiB, 2 MiB}, memory.page_size's values. A size that is not a
// multiple of the device's allocation granularity (cuMemGetAllocationGranularity, minimum
// for a pinned device allocation: 2 MiB on the GPUs we know) cannot be mapped with the public
// API: it is not registered, and the context's refused_page_sizes and stderr say so.
// Times are host wall time around each call (the calls are synchronous), one page per
// iteration, in a batch of kPages pages (map all, unmap all) so the reservation's state is
// what a running arena's is. Without a device (or without VMM support) the binary says so
// and exits 0. JSON: --benchmark_out=FILE --benchmark_out_format=json.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_query.h"
#include "kernels/cuda/device_virtual_memory.h"
#include "kernels/cuda/driver_vmm_api.h"

namespace kvlab {
namespace {

using Clock = std::chrono::steady_clock;

// Pages mapped and unmapped per batch: 64 x 2 MiB = 128 MiB of device memory at most.
constexpr size_t kPages = 64;

std::string label(size_t bytes) {
  return bytes >= (1u << 20) ? std::to_string(bytes >> 20) + "MiB"
                             : std::to_string(bytes >> 10) + "KiB";
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Times one map (time_map) or one unmap per iteration, over batches of kPages pages: a batch
// starts with every page unmapped (maps) or mapped (unmaps), restored between batches untimed.
void map_point(benchmark::State& state, size_t page_bytes, bool time_map) {
  cuda::DevicePagePool pool(0, page_bytes, kPages);
  cuda::DeviceReservation reservation(0, kPages * page_bytes, page_bytes);
  auto restore = [&] {
    for (size_t i = 0; i < kPages; ++i) {
      if (time_map && reservation.is_mapped(i)) reservation.unmap(i);
      if (!time_map && !reservation.is_mapped(i)) reservation.map(i, pool, i);
    }
  };
  restore();
  size_t next = 0;
  for (auto _ : state) {
    if (next == kPages) {
      restore();
      next = 0;
    }
    const auto start = Clock::now();
    if (time_map) {
      reservation.map(next, pool, next);
    } else {
      reservation.unmap(next);
    }
    state.SetIterationTime(seconds_since(start));
    ++next;
  }
}

void create_point(benchmark::State& state, size_t page_bytes) {
  const cuda::DriverVmmApi& api = cuda::driver_vmm_api();
  CUmemAllocationProp prop{};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = 0;
  for (auto _ : state) {
    const auto start = Clock::now();
    CUmemGenericAllocationHandle handle = 0;
    cuda::check_cu(api.create(&handle, page_bytes, &prop, 0), "cuMemCreate");
    cuda::check_cu(api.release(handle), "cuMemRelease");
    state.SetIterationTime(seconds_since(start));
  }
}

void register_benchmarks(size_t granularity) {
  std::string refused;
  for (size_t page : {size_t{64} << 10, size_t{128} << 10, size_t{256} << 10, size_t{2} << 20}) {
    if (page % granularity != 0) {
      refused += (refused.empty() ? "" : ",") + label(page);
      std::fprintf(stderr,
                   "bench_gpu_vmm: page %s refused: not a multiple of the allocation granularity "
                   "(%zu bytes)\n",
                   label(page).c_str(), granularity);
      continue;
    }
    const std::string suffix = "/page:" + label(page);
    benchmark::RegisterBenchmark(("BM_VmmMap" + suffix).c_str(),
                                 [page](benchmark::State& s) { map_point(s, page, true); })
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond)
        ->MinTime(0.2);
    benchmark::RegisterBenchmark(("BM_VmmUnmap" + suffix).c_str(),
                                 [page](benchmark::State& s) { map_point(s, page, false); })
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond)
        ->MinTime(0.2);
    benchmark::RegisterBenchmark(("BM_VmmCreate" + suffix).c_str(),
                                 [page](benchmark::State& s) { create_point(s, page); })
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond)
        ->MinTime(0.2);
  }
  benchmark::AddCustomContext("refused_page_sizes", refused.empty() ? "none" : refused);
}

}  // namespace
}  // namespace kvlab

int main(int argc, char** argv) {
  using namespace kvlab;
  std::string why;
  if (cuda::cuda_device_count(&why) == 0) {
    std::printf("bench_gpu_vmm: no CUDA device (%s): nothing to measure\n", why.c_str());
    return 0;
  }
  const cuda::DeviceInfo info = cuda::query_device(0);
  why = cuda::vmm_unsupported_reason(0);
  if (!why.empty()) {
    std::printf("bench_gpu_vmm: %s: nothing to measure\n", why.c_str());
    return 0;
  }
  const size_t granularity = cuda::vmm_granularity(0);
  benchmark::AddCustomContext("device", info.name);
  benchmark::AddCustomContext("vmm_granularity_bytes", std::to_string(granularity));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  register_benchmarks(granularity);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
