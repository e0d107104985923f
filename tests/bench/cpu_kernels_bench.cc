// CPU reference kernels: decode attention over paged (block size 16, shuffled blocks) and
// contiguous layouts at a few batch x context points with Llama-2-7B heads (32 query heads,
// 8 KV heads of 128: GQA 4), and one full step of the tiny Llama model (decodes mixed with a
// prefill chunk).
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/kv_cache.h"
#include "kernels/kv_cache_view.h"
#include "kernels/model/llama_model.h"
#include "kernels/model/weight_source.h"
#include "tests/kernels/model_test_util.h"

namespace kvlab {
namespace {

constexpr int kHeads = 32, kKvHeads = 8, kHeadDim = 128;

std::vector<int32_t> shuffled(int32_t n, uint64_t seed) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = i;
  std::mt19937_64 rng(seed);
  for (int32_t i = n - 1; i > 0; --i) {
    std::swap(ids[static_cast<size_t>(i)], ids[rng() % static_cast<uint64_t>(i + 1)]);
  }
  return ids;
}

void fill_random(std::vector<float>& data, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (float& x : data) x = static_cast<float>(static_cast<double>(rng() >> 11) * 0x1.0p-53 - 0.5);
}

// Layouts for `batch` sequences of `context` tokens each: paged with block_size (blocks
// drawn from a shuffled arena), or contiguous regions back to back.
std::vector<KvLayout> make_layouts(int batch, int context, int block_size) {
  std::vector<KvLayout> layouts(static_cast<size_t>(batch));
  const int blocks_per_seq = (context + std::max(block_size, 1) - 1) / std::max(block_size, 1);
  const std::vector<int32_t> order = shuffled(batch * blocks_per_seq, 1);
  for (int i = 0; i < batch; ++i) {
    KvLayout& l = layouts[static_cast<size_t>(i)];
    if (block_size == 0) {
      l.kind = KvLayout::Kind::kContiguous;
      l.base_slot = int64_t{i} * context;
      l.reserved_slots = context;
    } else {
      l.kind = KvLayout::Kind::kPaged;
      l.block_size = block_size;
      for (int b = 0; b < blocks_per_seq; ++b) {
        l.block_table.push_back(order[static_cast<size_t>(i * blocks_per_seq + b)]);
      }
    }
  }
  return layouts;
}

// Args: batch, context, block size (0: contiguous).
void BM_DecodeAttention(benchmark::State& state) {
  const auto batch = static_cast<int>(state.range(0));
  const auto context = static_cast<int>(state.range(1));
  const auto block_size = static_cast<int>(state.range(2));
  const int64_t slots = int64_t{batch} * ((context + 15) / 16) * 16;
  cpu::CpuKvCache cache(1, slots, kKvHeads, kHeadDim);
  {
    std::vector<float> noise(static_cast<size_t>(slots * kKvHeads * kHeadDim));
    fill_random(noise, 2);
    const KvArenaView<float> a = cache.layer(0);
    std::copy(noise.begin(), noise.end(), a.k);
    std::copy(noise.rbegin(), noise.rend(), a.v);
  }
  const KvBatchTables tables =
      KvBatchTables::build(make_layouts(batch, context, block_size),
                           std::vector<int32_t>(size_t(batch), context), slots);
  cpu::RowMatrix q = cpu::RowMatrix::Random(batch, kHeads * kHeadDim);
  cpu::RowMatrix out(batch, kHeads * kHeadDim);
  for (auto _ : state) {
    cpu::decode_attention(q, tables.view(), cache.layer(0), kHeads, out);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  // K and V bytes read per step: the figure the GPU kernels will be compared on.
  const int64_t kv_bytes = int64_t{batch} * context * 2 * kKvHeads * kHeadDim * 4;
  state.SetBytesProcessed(state.iterations() * kv_bytes);
  state.counters["tokens"] = benchmark::Counter(double(batch) * context);
}
BENCHMARK(BM_DecodeAttention)
    ->ArgNames({"batch", "context", "block"})
    ->ArgsProduct({{1, 8, 32}, {128, 1024}, {0, 16}})
    ->Unit(benchmark::kMicrosecond);


// One step of the tiny model: `decodes` sequences at context 255 decoding one token each, plus
// one 64-token prefill chunk following 128 tokens already cached; paged, block size 16.
void BM_TinyModelStep(benchmark::State& state) {
  const auto decodes = static_cast<int>(state.range(0));
  const LlamaModel model(testing::tiny_llama_spec(), DummyWeightSource(1));
  const std::vector<KvLayout> layouts = make_layouts(decodes + 1, 256, 16);
  cpu::CpuKvCache cache = model.make_kv_cache(int64_t{decodes + 1} * 256);
  std::vector<ForwardEntry> batch;
  std::mt19937_64 rng(3);
  auto token = [&] { return static_cast<int32_t>(rng() % 256); };
  ForwardEntry chunk{{}, 128, layouts[0], true};
  for (int t = 0; t < 64; ++t) chunk.tokens.push_back(token());
  batch.push_back(chunk);
  for (int i = 1; i <= decodes; ++i) batch.push_back({{token()}, 255, layouts[size_t(i)], true});
  for (auto _ : state) {
    cpu::RowMatrix logits = model.forward(batch, cache);
    benchmark::DoNotOptimize(logits.data());
  }
  state.counters["tokens/s"] =
      benchmark::Counter(double(64 + decodes), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_TinyModelStep)->ArgName("decodes")->Arg(8)->Arg(64)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace kvlab
