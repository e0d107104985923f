// One Scheduler::schedule() call over a batch of running sequences that all decode (the
// steady state of a serving engine). Target: under 10 us for 256 sequences.
//
// Each iteration is one schedule() call followed by what the Engine would do with its plan
// (each decode's token computed and one token sampled: a few hundred increments); every
// kRefillEvery steps, untimed, every sequence is released and re-admitted so none reaches
// its end. Managers: the real paged manager (block_size 16), and a manager that answers yes
// to everything and keeps no books, to show the scheduler's own share. Read the CPU column
// on a loaded machine: wall time there includes waiting for a core.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "core/kv_cache_manager.h"
#include "core/request.h"
#include "core/scheduler.h"

namespace kvlab {
namespace {

constexpr int32_t kPrompt = 128;
constexpr int32_t kOutput = 4096;
constexpr int32_t kRefillEvery = 2048;

// Every answer is yes, nothing is tracked or moved.
class UnboundedKv final : public KvCacheManager {
 public:
  std::string name() const override { return "unbounded"; }
  int64_t capacity_slots() const override { return int64_t{1} << 40; }
  int64_t host_capacity_slots() const override { return 0; }
  int64_t free_slots() const override { return capacity_slots(); }
  AllocStatus can_admit(const SequenceGroup&) const override { return AllocStatus::kOk; }
  void admit(const SequenceGroup&) override {}
  bool can_append(const SequenceGroup&) const override { return true; }
  std::vector<KvCopy> append_slot(const Sequence&) override { return {}; }
  std::vector<KvCopy> fork(const Sequence&, const Sequence&) override { return {}; }
  void release(const Sequence&) override {}
  AllocStatus can_swap_out(const SequenceGroup&) const override { return AllocStatus::kNever; }
  std::vector<KvCopy> swap_out(const SequenceGroup&) override { return {}; }
  AllocStatus can_swap_in(const SequenceGroup&) const override { return AllocStatus::kNever; }
  std::vector<KvCopy> swap_in(const SequenceGroup&) override { return {}; }
  KvLayout layout(const Sequence&) const override { return {}; }
  MemoryBreakdown breakdown(const SequenceGroup*) const override { return {}; }
  void audit() const override {}
};

std::unique_ptr<KvCacheManager> make_manager(const std::string& kind, int32_t num_seqs) {
  if (kind == "unbounded") return std::make_unique<UnboundedKv>();
  MemoryConfig memory;
  memory.policy = "paged";
  memory.settings.set("memory.block_size", std::to_string(16));
  memory.settings.set("memory.watermark", std::to_string(0.0));
  memory.capacity_slots = int64_t{num_seqs} * (kPrompt + kOutput + 16);
  return memory_policies().create("paged", memory);
}

class DecodeBatch {
 public:
  DecodeBatch(int32_t num_seqs, const SchedulerConfig& config, const std::string& manager)
      : kv_(make_manager(manager, num_seqs)),
        scheduler_(schedulers().create(config.batching, config)) {
    for (int32_t i = 0; i < num_seqs; ++i) {
      RequestSpec spec;
      spec.id = i;
      spec.arrival_s = 0.001 * i;
      spec.prompt_len = kPrompt;
      spec.output_len = kOutput;
      groups_.push_back(std::make_unique<SequenceGroup>(spec));
    }
    refill();
  }

  bool needs_refill() const { return steps_ >= kRefillEvery; }

  // Every sequence back to "prompt computed, first token sampled", holding the prompt's slots.
  void refill() {
    queues_.running.clear();
    for (auto& g : groups_) {
      Sequence& s = g->seqs[0];
      if (s.status == SeqStatus::kRunning) kv_->release(s);
      s.num_computed = 0;
      s.num_generated = 0;
      kv_->admit(*g);
      s.num_computed = kPrompt;
      s.num_generated = 1;
      s.status = SeqStatus::kRunning;
      g->status = GroupStatus::kRunning;
      queues_.running.push_back(g.get());
    }
    steps_ = 0;
  }

  // One schedule() call, and its decodes applied. Returns how many sequences decoded.
  size_t step() {
    ++steps_;
    SchedulerOutput plan = scheduler_->schedule(queues_, *kv_, 0.0);
    for (Sequence* s : plan.decodes) {
      s->num_computed += 1;
      s->num_generated += 1;
    }
    return plan.decodes.size();
  }

 private:
  std::unique_ptr<KvCacheManager> kv_;
  std::unique_ptr<Scheduler> scheduler_;
  std::vector<std::unique_ptr<SequenceGroup>> groups_;
  SchedulerQueues queues_;
  int32_t steps_ = 0;
};

void run(benchmark::State& state, SchedulerConfig config, const std::string& manager) {
  const auto num_seqs = static_cast<int32_t>(state.range(0));
  config.max_num_seqs = num_seqs;
  config.max_batched_tokens = std::max<int64_t>(num_seqs, 4096);
  config.max_seq_len = kPrompt + kOutput;
  DecodeBatch batch(num_seqs, config, manager);
  for (auto _ : state) {
    if (batch.needs_refill()) {
      state.PauseTiming();
      batch.refill();
      state.ResumeTiming();
    }
    if (batch.step() != static_cast<size_t>(num_seqs)) {
      state.SkipWithError("not every sequence decoded");
      break;
    }
  }
  state.counters["seqs"] = num_seqs;
}

void BM_ContinuousDecodes_Paged(benchmark::State& state) { run(state, SchedulerConfig{}, "paged"); }
void BM_ContinuousDecodes_Unbounded(benchmark::State& state) {
  run(state, SchedulerConfig{}, "unbounded");
}
void BM_ChunkedDecodes_Paged(benchmark::State& state) {
  SchedulerConfig config;
  config.settings.set("scheduler.chunk_size", "512");
  run(state, config, "paged");
}
void BM_StaticDecodes_Paged(benchmark::State& state) {
  SchedulerConfig config;
  config.batching = "static";
  run(state, config, "paged");
}

BENCHMARK(BM_ContinuousDecodes_Paged)->Arg(64)->Arg(256)->Arg(1024)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ContinuousDecodes_Unbounded)->Arg(256)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ChunkedDecodes_Paged)->Arg(256)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_StaticDecodes_Paged)->Arg(256)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace kvlab
