#include "tests/scheduling/scheduler_harness.h"

#include <gtest/gtest.h>

#include <set>

#include "core/executor.h"

namespace kvlab::testing {

namespace {

// Every step takes one second and produces no token ids (like the simulator).
class FixedStepExecutor : public Executor {
 public:
  std::string name() const override { return "fixed-step(1s)"; }
  bool is_real() const override { return false; }
  StepResult execute(const SchedulerOutput&, const KvCacheManager&) override {
    StepResult r;
    r.duration_s = 1.0;
    return r;
  }
  double copy_within(const std::vector<KvCopy>&) override { return 0.0; }
};

void append(std::string& list, const std::string& item) {
  if (!list.empty()) list += ' ';
  list += item;
}

std::string ids(const std::deque<SequenceGroup*>& queue) {
  std::string out;
  for (const SequenceGroup* g : queue) append(out, std::to_string(g->id()));
  return out;
}

int64_t slots(const std::vector<KvCopy>& copies) {
  int64_t n = 0;
  for (const KvCopy& c : copies) n += c.num_slots;
  return n;
}

SeqStatus seq_status_for(GroupStatus s) {
  switch (s) {
    case GroupStatus::kWaiting:
      return SeqStatus::kWaiting;
    case GroupStatus::kRunning:
      return SeqStatus::kRunning;
    case GroupStatus::kSwapped:
      return SeqStatus::kSwapped;
    default:
      return SeqStatus::kFinished;
  }
}

StepView describe(const SchedulerOutput& plan, const SchedulerQueues& queues) {
  StepView v;
  for (const PrefillChunk& c : plan.prefills) {
    append(v.prefills, seq_label(*c.seq) + ":" + std::to_string(c.start) + "+" +
                           std::to_string(c.num_tokens) + (c.samples ? "*" : ""));
  }
  for (const Sequence* s : plan.decodes) append(v.decodes, seq_label(*s));
  for (const Preemption& p : plan.preempted) {
    append(v.preempted, std::to_string(p.group->id()) + ":" + to_string(p.mode));
  }
  for (const Rejection& r : plan.rejected) append(v.rejected, std::to_string(r.group->id()));
  v.waiting = ids(queues.waiting);
  v.running = ids(queues.running);
  v.swapped = ids(queues.swapped);
  v.swap_out = slots(plan.swap_out);
  v.swap_in = slots(plan.swap_in);
  return v;
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const StepView& v) {
  return os << "{prefills \"" << v.prefills << "\", decodes \"" << v.decodes << "\", preempted \""
            << v.preempted << "\", rejected \"" << v.rejected << "\", waiting \"" << v.waiting
            << "\", running \"" << v.running << "\", swapped \"" << v.swapped << "\", swap_out "
            << v.swap_out << ", swap_in " << v.swap_in << "}";
}

std::string seq_label(const Sequence& seq) {
  const RequestId request = seq.group->id();
  const int64_t index = seq.id - make_seq_id(request, 0);
  return index == 0 ? std::to_string(request)
                    : std::to_string(request) + "." + std::to_string(index);
}

MemoryConfig slot_budget(int64_t capacity_slots, int64_t swap_slots, int32_t block_size) {
  MemoryConfig m;
  m.policy = "paged";
  m.capacity_slots = capacity_slots;
  m.swap_capacity_slots = swap_slots;
  m.settings.set("memory.block_size", std::to_string(block_size));
  m.settings.set("memory.watermark", std::to_string(0.0));
  return m;
}

SchedulerHarness::SchedulerHarness(const SchedulerConfig& scheduler, const MemoryConfig& memory) {
  config_.scheduler = scheduler;
  config_.memory = memory;
  config_.memory.max_seq_len = scheduler.max_seq_len;
  engine_ = std::make_unique<Engine>(config_, memory_policies().create(memory.policy, memory),
                                     schedulers().create(scheduler.batching, scheduler),
                                     std::make_unique<FixedStepExecutor>());
  engine_->set_audit_every_step(true);
}

SchedulerHarness::~SchedulerHarness() = default;

void SchedulerHarness::add(RequestId id, double arrival_s, int32_t prompt_len, int32_t output_len,
                           int32_t n) {
  RequestSpec spec;
  spec.id = id;
  spec.arrival_s = arrival_s;
  spec.prompt_len = prompt_len;
  spec.output_len = output_len;
  spec.n = n;
  engine_->add_request(spec);
}

bool SchedulerHarness::step(StepView* view) {
  if (!engine_->step()) {
    *view = StepView{};
    return false;
  }
  *view = describe(engine_->last_plan(), engine_->queues());
  check_contracts();
  return true;
}

const SequenceGroup& SchedulerHarness::group(RequestId id) const {
  const SequenceGroup* g = engine_->group(id);
  if (g == nullptr) throw std::out_of_range("no request " + std::to_string(id));
  return *g;
}

void SchedulerHarness::check_contracts() const {
  const SchedulerQueues& q = engine_->queues();
  const SchedulerOutput& plan = engine_->last_plan();
  const SchedulerConfig& c = config_.scheduler;

  std::set<RequestId> seen;
  auto check_queue = [&](const std::deque<SequenceGroup*>& queue, GroupStatus status,
                         const char* name) {
    for (const SequenceGroup* g : queue) {
      EXPECT_EQ(engine_->group(g->id()), g) << name << " holds a group the Engine does not own";
      EXPECT_TRUE(seen.insert(g->id()).second) << "request " << g->id() << " in two queues";
      EXPECT_EQ(g->status, status) << "request " << g->id() << " in " << name;
      for (const Sequence& s : g->seqs) {
        if (s.is_finished()) continue;
        EXPECT_EQ(s.status, seq_status_for(status))
            << "sequence " << seq_label(s) << " of a group in " << name;
      }
    }
  };
  check_queue(q.waiting, GroupStatus::kWaiting, "waiting");
  check_queue(q.running, GroupStatus::kRunning, "running");
  check_queue(q.swapped, GroupStatus::kSwapped, "swapped");

  for (const Rejection& r : plan.rejected) {
    EXPECT_EQ(r.group->status, GroupStatus::kRejected);
    EXPECT_FALSE(r.reason.empty());
    EXPECT_EQ(r.group->reject_reason, r.reason);
    EXPECT_EQ(seen.count(r.group->id()), 0u) << "rejected request " << r.group->id() << " queued";
  }

  int64_t prefill_tokens = 0;
  for (const PrefillChunk& chunk : plan.prefills) {
    EXPECT_EQ(engine_->group(chunk.seq->group->id()), chunk.seq->group);
    EXPECT_GT(chunk.num_tokens, 0);
    const int64_t chunk_size = c.settings.get_int("scheduler.chunk_size");
    if (chunk_size > 0) {
      EXPECT_LE(chunk.num_tokens, chunk_size);
    }
    prefill_tokens += chunk.num_tokens;
  }
  for (const Sequence* s : plan.decodes) EXPECT_EQ(engine_->group(s->group->id()), s->group);
  EXPECT_EQ(plan.num_prefill_tokens, prefill_tokens);
  EXPECT_EQ(plan.num_decode_tokens, static_cast<int64_t>(plan.decodes.size()));
  EXPECT_LE(plan.num_batched_tokens(), c.max_batched_tokens);

  int64_t running_seqs = 0;
  for (const SequenceGroup* g : q.running) {
    running_seqs += g->has_forked() ? g->num_unfinished() : g->spec.n;
  }
  EXPECT_LE(running_seqs, c.max_num_seqs);
}

void expect_steps(SchedulerHarness& harness, const std::vector<StepView>& table) {
  for (size_t i = 0; i < table.size(); ++i) {
    SCOPED_TRACE("step " + std::to_string(i));
    StepView actual;
    ASSERT_TRUE(harness.step(&actual)) << "the run ended before this step";
    EXPECT_EQ(actual, table[i]);
  }
  StepView after;
  EXPECT_FALSE(harness.step(&after)) << "work left after the table's last step: " << after;
}

SchedulerConfig with_settings(SchedulerConfig config,
                              std::initializer_list<std::pair<std::string, std::string>> settings) {
  for (const auto& [key, value] : settings) config.settings.set(key, value);
  return config;
}

}  // namespace kvlab::testing
