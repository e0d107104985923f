// Tensor parallelism on the cpu back end: one model step split over 1, 2 and 4 ranks (threads,
// kernels/model/tensor_parallel.h) for a mid-size Llama shape (4 layers, hidden 1024, 16 heads,
// 8 KV heads of 64, ffn 2816, vocabulary 8192; 64 M parameters, fp32), as a prefill of 512
// tokens and as 32 decodes at context 512. Wall time (the ranks run at once); the counter
// `collective_ms` is rank 0's time in the collectives, waits for the other ranks included.
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "kernels/cpu/collective.h"
#include "kernels/cpu/rank_threads.h"
#include "kernels/model/decoder_model.h"
#include "kernels/model/weight_source.h"

namespace kvlab {
namespace {

ModelSpec mid_llama() {
  ModelSpec s;
  s.name = "bench-llama-64m";
  s.family = "llama";
  s.num_layers = 4;
  s.hidden_size = 1024;
  s.num_heads = 16;
  s.num_kv_heads = 8;
  s.head_dim = 64;
  s.ffn_size = 2816;
  s.vocab_size = 8192;
  s.max_seq_len = 2048;
  s.dtype_bytes = 4;
  s.rope_theta = 10000.0;
  return s;
}

// Args: ranks, decode (1: 32 decodes at context 512; 0: one 512-token prefill).
void BM_TensorParallelStep(benchmark::State& state) {
  const auto ranks = static_cast<int32_t>(state.range(0));
  const bool decode = state.range(1) != 0;
  const ModelSpec spec = mid_llama();
  const int32_t context = 512, batch = decode ? 32 : 1;
  std::unique_ptr<cpu::SharedMemoryGroup> group;
  if (ranks > 1) group = std::make_unique<cpu::SharedMemoryGroup>(ranks);
  cpu::RankThreads threads(ranks);
  std::vector<std::unique_ptr<DecoderModel>> models(static_cast<size_t>(ranks));
  threads.run([&](int32_t r) {
    models[static_cast<size_t>(r)] = make_decoder_model(
        spec, DummyWeightSource(1),
        TpShard{.rank = r, .size = ranks, .comm = group ? &group->rank(r) : nullptr});
  });
  std::vector<cpu::CpuKvCache> caches;
  for (const auto& m : models) caches.push_back(m->make_kv_cache(int64_t{batch} * context));
  std::vector<ForwardEntry> entries;
  for (int32_t i = 0; i < batch; ++i) {
    ForwardEntry e;
    e.layout.kind = KvLayout::Kind::kContiguous;
    e.layout.base_slot = int64_t{i} * context;
    e.layout.reserved_slots = context;
    if (decode) {
      e.tokens = {(i * 37) % spec.vocab_size};
      e.start = context - 1;
    } else {
      for (int32_t t = 0; t < context; ++t) e.tokens.push_back((t * 131 + 7) % spec.vocab_size);
    }
    entries.push_back(std::move(e));
  }
  const double collective_before = group ? group->rank(0).seconds() : 0.0;
  for (auto _ : state) {
    threads.run([&](int32_t r) {
      cpu::RowMatrix logits =
          models[static_cast<size_t>(r)]->forward(entries, caches[static_cast<size_t>(r)]);
      benchmark::DoNotOptimize(logits.data());
    });
  }
  const double collective = group ? group->rank(0).seconds() - collective_before : 0.0;
  state.counters["collective_ms"] =
      benchmark::Counter(collective * 1e3 / static_cast<double>(state.iterations()));
  state.counters["tokens"] = decode ? batch : context;
}
BENCHMARK(BM_TensorParallelStep)
    ->ArgsProduct({{1, 2, 4}, {0, 1}})
    ->ArgNames({"ranks", "decode"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace kvlab
