// GPU kernel benchmarks (Google Benchmark; bin/bench_gpu_kernels):
//
//  - BM_DecodeAttention/<layout>/batch:B/context:C/block:S: decode attention for a 7B-class head
//    layout (32 query heads, 32 KV heads of 128, fp16; one layer) over paged (shuffled blocks
//    of 8..128 slots) and contiguous KV, batch {1, 8, 32, 128, 256} x context {128, 512, 2K,
//    8K, 32K}. Counters: GB_per_s (K and V bytes read / time), peak_fraction (of the device's
//    peak memory bandwidth), and the decode algorithm auto chose (label).
//  - BM_DecodeAttentionKv/<kv_dtype>/paged/batch:B/context:C/block:16: the same over a
//    quantized cache (memory.kv_dtype fp8_e4m3, int8: 1-byte codes + a scale per vector),
//    batch {8, 32, 128} x context {2K, 8K}; GB_per_s counts the codes and scales read, so
//    the fp16 points above at the same shape show what the smaller cache buys.
//  - BM_WriteKv/<kv_dtype>/rows:R: writing R rows of fp16 K and V into their slots, as stored
//    (fp16) or quantized (fp8_e4m3, int8: one warp per row and KV head). GB_per_s counts the
//    rows read and the stored bytes written.
//  - BM_Gemm/<name>/tokens:N: the llama-2-7b linear layers (fp16 in, fp32 accumulate) at 1 to
//    4096 tokens. Counters: TFLOP_per_s, peak_fraction (of the hardware catalog's dense fp16
//    peak, when the device matches a catalog entry).
//  - BM_Sample/<params>/rows:R/vocab:32000: the GPU sampler (kernels/cuda/sampling.h) drawing R
//    tokens from R rows of logits, for top_k 50 + top_p 0.9 + repetition penalty 1.1 over a
//    512-token history, and for top_p 0.9 alone (the whole vocabulary in the nucleus search).
//    The time includes the per-call parameter / history upload. Counter: rows_per_s.
//
// Times are CUDA events around each launch (manual time). Points whose KV does not fit in
// 90% of the free device memory are not registered (listed on stderr). Without a device the
// binary says so and exits 0. JSON: --benchmark_out=FILE --benchmark_out_format=json.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "core/model_spec.h"
#include "core/kv_dtype.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/cache_ops.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/device_query.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/kv_cache.h"
#include "kernels/cuda/sampling.h"

namespace kvlab {
namespace {

using cuda::CudaEvent;
using cuda::DeviceBuffer;

constexpr int32_t kHeads = 32, kKvHeads = 32, kHeadDim = 128;
using Half = __half;

struct Device {
  cuda::DeviceInfo info;
  double peak_gb_s = 0;       // memory bandwidth used for peak_fraction
  double peak_tflops = 0;     // dense fp16 from the catalog (0: unknown)
  std::string catalog_entry;  // matched hardware_catalog() name, if any
};

Device& device() {
  static Device d;
  return d;
}

// The hardware catalog entry this device is, by name (and memory size for the A100s).
std::string match_catalog(const cuda::DeviceInfo& info) {
  const std::string& n = info.name;
  auto has = [&](const char* s) { return n.find(s) != std::string::npos; };
  if (has("H200")) return "h200";
  if (has("H100")) return "h100-sxm-80gb";
  if (has("A100")) return info.total_bytes > (int64_t{50} << 30) ? "a100-80gb" : "a100-40gb";
  if (has("A10G")) return "a10g";
  return "";
}

std::vector<int32_t> shuffled(int64_t n, uint64_t seed) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  std::mt19937_64 rng(seed);
  for (int64_t i = n - 1; i > 0; --i) {
    std::swap(ids[static_cast<size_t>(i)], ids[rng() % static_cast<uint64_t>(i + 1)]);
  }
  return ids;
}

template <typename I>
DeviceBuffer upload(const std::vector<I>& values) {
  DeviceBuffer b(std::max<size_t>(1, values.size() * sizeof(I)));
  cuda::check_cuda(
      cudaMemcpy(b.data(), values.data(), values.size() * sizeof(I), cudaMemcpyHostToDevice),
      "bench upload");
  cuda::check_cuda(cudaDeviceSynchronize(), "bench upload");
  return b;
}

// Runs `launch` once to warm up (module load, workspace allocation), then once per benchmark
// iteration between two CUDA events on `stream`, reporting each event-timed launch as the
// iteration's manual time. Returns the seconds of all timed launches.
template <typename Launch>
double time_launches(benchmark::State& state, cuda::CudaStream& stream, Launch&& launch) {
  launch();
  stream.synchronize("benchmark warm-up");
  CudaEvent start, stop;
  double total_s = 0;
  for (auto _ : state) {
    start.record(stream.get());
    launch();
    stop.record(stream.get());
    stop.synchronize();
    const double s = stop.elapsed_ms_since(start) / 1e3;
    total_s += s;
    state.SetIterationTime(s);
  }
  return total_s;
}

int64_t slots_needed(int64_t batch, int64_t context, int64_t block_size) {
  if (block_size == 0) return batch * context;
  return batch * ((context + block_size - 1) / block_size) * block_size;
}

int64_t kv_bytes(int64_t slots) { return slots * 2 * kKvHeads * kHeadDim * int64_t{sizeof(Half)}; }

// A quantized cache's codes and scales, filled: every code 0x38 (fp8 1.0, int8 56), every
// scale 0x3C3C3C3C (about 0.0115). The values do not change the kernels' work.
void fill_scaled(const cuda::CudaKvCache& cache, cudaStream_t stream) {
  const std::vector<cuda::CudaKvCache::Plane> planes = cache.planes();  // codes, then scales
  for (size_t p = 0; p < planes.size(); ++p) {
    const cuda::CudaKvCache::Plane& plane = planes[p];
    const auto bytes = static_cast<size_t>(cache.num_layers() * plane.layer_bytes);
    const int value = p == 0 ? 0x38 : 0x3C;
    cuda::check_cuda(cudaMemsetAsync(plane.k_base, value, bytes, stream), "bench fill");
    cuda::check_cuda(cudaMemsetAsync(plane.v_base, value, bytes, stream), "bench fill");
  }
}

// block_size 0: contiguous. `kv`: auto (fp16), fp8_e4m3 or int8.
void decode_attention_point(benchmark::State& state, int64_t batch, int64_t context,
                            int64_t block_size, KvDtype kv = KvDtype::kAuto) {
  const int64_t slots = slots_needed(batch, context, block_size);
  cuda::CudaStream stream;
  cuda::CudaKvCache cache(1, slots, kKvHeads, kHeadDim, cuda::DType::kF16,
                          cuda::CudaKvCache::Memory::kDevice, kv);
  const cuda::DummyRange range{0.0f, 1.0f};
  if (cache.scaled()) {
    fill_scaled(cache, stream.get());
  } else {
    const KvArenaView<Half> arena = cache.layer<Half>(0);
    cuda::fill_dummy(arena.k, slots * kKvHeads * kHeadDim, 1, range, stream.get());
    cuda::fill_dummy(arena.v, slots * kKvHeads * kHeadDim, 2, range, stream.get());
  }
  const int64_t width = int64_t{kHeads} * kHeadDim;
  DeviceBuffer q(static_cast<size_t>(batch * width) * sizeof(Half));
  DeviceBuffer out(static_cast<size_t>(batch * width) * sizeof(Half));
  cuda::fill_dummy(q.as<Half>(), batch * width, 3, range, stream.get());

  std::vector<int32_t> context_lens(static_cast<size_t>(batch), static_cast<int32_t>(context));
  std::vector<int32_t> indptr = {0}, indices;
  std::vector<int64_t> base;
  if (block_size > 0) {
    const int64_t per_seq = (context + block_size - 1) / block_size;
    indices = shuffled(batch * per_seq, 7);
    for (int64_t i = 0; i < batch; ++i) indptr.push_back(static_cast<int32_t>((i + 1) * per_seq));
  } else {
    for (int64_t i = 0; i < batch; ++i) base.push_back(i * context);
  }
  const DeviceBuffer d_context = upload(context_lens), d_indptr = upload(indptr),
                     d_indices = upload(indices), d_base = upload(base);
  KvSeqView view;
  view.kind = block_size > 0 ? KvLayout::Kind::kPaged : KvLayout::Kind::kContiguous;
  view.num_seqs = static_cast<int32_t>(batch);
  view.context_lens = d_context.as<const int32_t>();
  view.block_size = static_cast<int32_t>(block_size);
  if (block_size > 0) {
    view.block_indptr = d_indptr.as<const int32_t>();
    view.block_indices = d_indices.as<const int32_t>();
  } else {
    view.base_slots = d_base.as<const int64_t>();
  }
  DeviceBuffer workspace;
  const cuda::DecodeOptions options;
  auto launch = [&] {
    if (cache.scaled()) {
      cuda::decode_attention(q.as<const Half>(), width, view, static_cast<int32_t>(context),
                             cache.scaled_layer(0), kHeads, out.as<Half>(), width, workspace,
                             stream.get(), options);
    } else {
      cuda::decode_attention(q.as<const Half>(), width, view, static_cast<int32_t>(context),
                             cache.layer<Half>(0).as_const(), kHeads, out.as<Half>(), width,
                             workspace, stream.get(), options);
    }
  };
  const double total_s = time_launches(state, stream, launch);
  const double bytes = static_cast<double>(batch * context * cache.bytes_per_slot());
  const double gb_s = bytes * static_cast<double>(state.iterations()) / total_s / 1e9;
  state.counters["GB_per_s"] = gb_s;
  state.counters["peak_fraction"] = device().peak_gb_s > 0 ? gb_s / device().peak_gb_s : 0.0;
  state.counters["kv_MiB"] = bytes / (1024.0 * 1024.0);
  state.SetLabel(cuda::to_string(cuda::choose_decode_algorithm(static_cast<int32_t>(batch), kHeads,
                                                               static_cast<int32_t>(context),
                                                               options.partition_tokens)));
}

// R rows of fp16 K and V (one qkv-like buffer) into slots 0..R-1, stored as `kv`.
void write_kv_point(benchmark::State& state, KvDtype kv, int64_t rows) {
  cuda::CudaStream stream;
  cuda::CudaKvCache cache(1, rows, kKvHeads, kHeadDim, cuda::DType::kF16,
                          cuda::CudaKvCache::Memory::kDevice, kv);
  const int64_t width = int64_t{kKvHeads} * kHeadDim;
  DeviceBuffer kv_rows(static_cast<size_t>(rows * 2 * width) * sizeof(Half));
  cuda::fill_dummy(kv_rows.as<Half>(), rows * 2 * width, 5, cuda::DummyRange{0.0f, 2.0f},
                   stream.get());
  std::vector<int64_t> slots(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) slots[static_cast<size_t>(r)] = r;
  const DeviceBuffer d_slots = upload(slots);
  const Half* k = kv_rows.as<const Half>();
  auto launch = [&] {
    if (cache.scaled()) {
      cuda::write_kv(k, 2 * width, k + width, 2 * width, d_slots.as<const int64_t>(), rows,
                     cache.scaled_layer(0), stream.get());
    } else {
      cuda::write_kv(k, 2 * width, k + width, 2 * width, d_slots.as<const int64_t>(), rows,
                     cache.layer<Half>(0), stream.get());
    }
  };
  const double total_s = time_launches(state, stream, launch);
  const double bytes =
      static_cast<double>(rows) * static_cast<double>(2 * width * int64_t{sizeof(Half)} +
                                                      cache.bytes_per_slot());
  const double gb_s = bytes * static_cast<double>(state.iterations()) / total_s / 1e9;
  state.counters["GB_per_s"] = gb_s;
  state.counters["peak_fraction"] = device().peak_gb_s > 0 ? gb_s / device().peak_gb_s : 0.0;
}

struct GemmShape {
  const char* name;
  int64_t in;
  int64_t out;
  bool fp32_out;
};

// llama-2-7b: hidden 4096, 32 x 128 heads (MHA), ffn 11008, vocab 32000.
constexpr GemmShape kGemms[] = {{"qkv_proj", 4096, 3 * 4096, false},
                                {"o_proj", 4096, 4096, false},
                                {"gate_up_proj", 4096, 2 * 11008, false},
                                {"down_proj", 11008, 4096, false},
                                {"lm_head", 4096, 32000, true}};

void gemm_point(benchmark::State& state, const GemmShape& g, int64_t tokens) {
  cuda::CudaStream stream;
  const cuda::CublasHandle cublas(stream.get());
  DeviceBuffer x(static_cast<size_t>(tokens * g.in) * sizeof(Half));
  DeviceBuffer w(static_cast<size_t>(g.out * g.in) * sizeof(Half));
  DeviceBuffer out(static_cast<size_t>(tokens * g.out) *
                   (g.fp32_out ? sizeof(float) : sizeof(Half)));
  cuda::fill_dummy(x.as<Half>(), tokens * g.in, 1, cuda::DummyRange{0.0f, 1.0f}, stream.get());
  cuda::fill_dummy(w.as<Half>(), g.out * g.in, 2, cuda::DummyRange{0.0f, 0.03f}, stream.get());
  auto launch = [&] {
    if (g.fp32_out) {
      cuda::linear(cublas, x.as<const Half>(), g.in, w.as<const Half>(), tokens, g.in, g.out,
                   out.as<float>(), g.out);
    } else {
      cuda::linear(cublas, x.as<const Half>(), g.in, w.as<const Half>(), tokens, g.in, g.out,
                   out.as<Half>(), g.out);
    }
  };
  const double total_s = time_launches(state, stream, launch);
  const double flops =
      2.0 * static_cast<double>(tokens) * static_cast<double>(g.in) * static_cast<double>(g.out);
  const double tflops = flops * static_cast<double>(state.iterations()) / total_s / 1e12;
  state.counters["TFLOP_per_s"] = tflops;
  state.counters["peak_fraction"] = device().peak_tflops > 0 ? tflops / device().peak_tflops : 0.0;
  state.SetLabel(g.name);
}

void sample_point(benchmark::State& state, bool penalty, int64_t rows, int32_t vocab) {
  cuda::CudaStream stream;
  DeviceBuffer logits(static_cast<size_t>(rows * vocab) * sizeof(float));
  DeviceBuffer out(static_cast<size_t>(rows) * sizeof(int32_t));
  cuda::fill_dummy(logits.as<float>(), rows * vocab, 4, cuda::DummyRange{0.0f, 4.0f}, stream.get());
  std::vector<int32_t> history(512);
  for (size_t i = 0; i < history.size(); ++i) history[i] = static_cast<int32_t>(i * 61 % 32000);
  std::vector<cuda::SampleDraw> draws(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    cuda::SampleDraw& d = draws[static_cast<size_t>(r)];
    d.row = r;
    d.params.temperature = 0.8f;
    d.params.top_k = penalty ? 50 : 0;
    d.params.top_p = 0.9f;
    d.params.repetition_penalty = penalty ? 1.1f : 1.0f;
    d.params.seed = static_cast<uint64_t>(r);
    d.position = 1000;
    d.history = history;
  }
  cuda::DeviceSampler sampler;
  auto launch = [&] {
    sampler.sample(logits.as<const float>(), vocab, rows, vocab, draws, out.as<int32_t>(),
                   stream.get());
  };
  const double total_s = time_launches(state, stream, launch);
  state.counters["rows_per_s"] =
      static_cast<double>(rows) * static_cast<double>(state.iterations()) / total_s;
}

void register_benchmarks() {
  const Device& d = device();
  const double budget = 0.9 * static_cast<double>(d.info.free_bytes);
  std::vector<std::string> skipped;
  for (int64_t block_size : {0, 8, 16, 32, 64, 128}) {
    for (int64_t batch : {1, 8, 32, 128, 256}) {
      for (int64_t context : {128, 512, 2048, 8192, 32768}) {
        const std::string name =
            std::string("BM_DecodeAttention/") + (block_size == 0 ? "contiguous" : "paged") +
            "/batch:" + std::to_string(batch) + "/context:" + std::to_string(context) +
            "/block:" + std::to_string(block_size);
        if (static_cast<double>(kv_bytes(slots_needed(batch, context, block_size))) > budget) {
          skipped.push_back(name);
          continue;
        }
        benchmark::RegisterBenchmark(name.c_str(),
                                     [=](benchmark::State& state) {
                                       decode_attention_point(state, batch, context, block_size);
                                     })
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond)
            ->MinTime(0.2);
      }
    }
  }
  for (const KvDtype kv : {KvDtype::kFp8E4m3, KvDtype::kInt8}) {
    for (int64_t batch : {8, 32, 128}) {
      for (int64_t context : {2048, 8192}) {
        const std::string name = "BM_DecodeAttentionKv/" + kv_dtype_name(kv) +
                                 "/paged/batch:" + std::to_string(batch) +
                                 "/context:" + std::to_string(context) + "/block:16";
        if (static_cast<double>(kv_bytes(slots_needed(batch, context, 16))) > budget) {
          skipped.push_back(name);
          continue;
        }
        benchmark::RegisterBenchmark(name.c_str(),
                                     [=](benchmark::State& state) {
                                       decode_attention_point(state, batch, context, 16, kv);
                                     })
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond)
            ->MinTime(0.2);
      }
    }
  }
  for (const KvDtype kv : {KvDtype::kAuto, KvDtype::kFp8E4m3, KvDtype::kInt8}) {
    for (int64_t rows : {1, 256, 4096}) {
      const std::string name = "BM_WriteKv/" +
                               std::string(kv == KvDtype::kAuto ? "fp16" : kv_dtype_name(kv)) +
                               "/rows:" + std::to_string(rows);
      benchmark::RegisterBenchmark(
          name.c_str(), [=](benchmark::State& state) { write_kv_point(state, kv, rows); })
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond)
          ->MinTime(0.2);
    }
  }
  for (const GemmShape& shape : kGemms) {
    for (int64_t tokens : {1, 16, 128, 512, 2048, 4096}) {
      const std::string name =
          std::string("BM_Gemm/") + shape.name + "/tokens:" + std::to_string(tokens);
      benchmark::RegisterBenchmark(
          name.c_str(),
          [&shape, tokens](benchmark::State& state) { gemm_point(state, shape, tokens); })
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond)
          ->MinTime(0.2);
    }
  }
  for (bool penalty : {true, false}) {
    for (int64_t rows : {1, 32, 256}) {
      const std::string name = std::string("BM_Sample/") +
                               (penalty ? "top_k_top_p_penalty" : "top_p") +
                               "/rows:" + std::to_string(rows) + "/vocab:32000";
      benchmark::RegisterBenchmark(
          name.c_str(),
          [penalty, rows](benchmark::State& state) { sample_point(state, penalty, rows, 32000); })
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond)
          ->MinTime(0.2);
    }
  }
  for (const std::string& s : skipped) {
    std::fprintf(stderr, "bench_gpu_kernels: skipped %s (KV does not fit in 90%% of free memory)\n",
                 s.c_str());
  }
  benchmark::AddCustomContext("skipped_points", std::to_string(skipped.size()));
}

}  // namespace
}  // namespace kvlab

int main(int argc, char** argv) {
  using namespace kvlab;
  std::string why;
  if (cuda::cuda_device_count(&why) == 0) {
    std::printf("bench_gpu_kernels: no CUDA device (%s): nothing to measure\n", why.c_str());
    return 0;
  }
  Device& d = device();
  d.info = cuda::query_device(0);
  d.catalog_entry = match_catalog(d.info);
  if (!d.catalog_entry.empty()) {
    const HardwareSpec& hw = hardware_catalog().get(d.catalog_entry);
    d.peak_tflops = hw.fp16_tflops;
    d.peak_gb_s = hw.hbm_gb_s;
  }
  // The measured memory clock x bus width when the device reports them (right for PCIe and
  // SXM parts alike); the catalog's figure otherwise.
  if (d.info.peak_memory_gb_s > 0) d.peak_gb_s = d.info.peak_memory_gb_s;
  benchmark::AddCustomContext("device", d.info.name);
  benchmark::AddCustomContext("peak_memory_gb_s", std::to_string(d.peak_gb_s));
  benchmark::AddCustomContext("queried_peak_memory_gb_s", std::to_string(d.info.peak_memory_gb_s));
  benchmark::AddCustomContext("catalog_entry", d.catalog_entry.empty() ? "none" : d.catalog_entry);
  benchmark::AddCustomContext("catalog_fp16_tflops", std::to_string(d.peak_tflops));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  register_benchmarks();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
