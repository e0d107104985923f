#include "core/engine.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <limits>
#include <map>
#include <queue>
#include <thread>
#include <unordered_map>

#include "core/block_hash.h"
#include "core/errors.h"
#include "core/step_work.h"

namespace kvlab {

namespace {
// The per-step term of the time Executor::copy_within took for the step's fork copies.
constexpr const char* kForkCopyTerm = "fork_copy";

// A streamed run's summary distributions keep this many values each in memory (8 MiB of
// doubles) and spill the rest to a temporary file (core/distribution.h): the same
// percentiles, in flat memory.
constexpr int64_t kStreamedValuesInMemory = int64_t{1} << 20;

bool ended(const SequenceGroup& g) {
  return g.status == GroupStatus::kFinished || g.status == GroupStatus::kRejected;
}

// The record of `g` as it stands (a group not ended is unfinished); `has_token_ids` is set
// when it carries token ids (a real back end's).
RequestRecord record_of(const SequenceGroup& g, bool& has_token_ids) {
  RequestRecord r;
  r.id = g.id();
  r.trace_line = g.spec.source_line;
  r.arrival_s = g.spec.arrival_s;
  r.first_scheduled_s = g.first_scheduled_s;
  r.first_token_s = g.first_token_s;
  r.finish_s = g.finish_s;
  r.prompt_len = g.spec.prompt_len;
  r.output_len = g.spec.output_len;
  r.n = g.spec.n;
  for (const Sequence& q : g.seqs) {
    r.generated_tokens += q.num_generated;
    if (!q.token_ids.empty() || !g.spec.prompt_tokens.empty()) {
      const auto begin = q.token_ids.begin() + std::min<size_t>(q.token_ids.size(), q.prompt_len);
      r.token_ids.emplace_back(begin, q.token_ids.end());
      has_token_ids = true;
    }
  }
  r.num_preemptions = g.num_preemptions;
  r.num_recomputes = g.num_recomputes;
  r.num_swaps = g.num_swaps;
  r.outcome = g.status == GroupStatus::kFinished   ? RequestOutcome::kFinished
              : g.status == GroupStatus::kRejected ? RequestOutcome::kRejected
                                                   : RequestOutcome::kUnfinished;
  r.reject_reason = g.reject_reason;
  r.cached_prompt_tokens = g.cached_prompt_tokens;
  r.cached_tokens = g.cached_tokens;
  size_t gaps = 0;
  for (const std::vector<float>& sample : g.itl_s) gaps += sample.size();
  r.itl_s.reserve(gaps);
  for (const std::vector<float>& sample : g.itl_s) {
    r.itl_s.insert(r.itl_s.end(), sample.begin(), sample.end());
  }
  return r;
}

}  // namespace

struct Engine::State {
  State(const ExperimentConfig& c, std::unique_ptr<KvCacheManager> k, std::unique_ptr<Scheduler> s,
        std::unique_ptr<Executor> e)
      : config(c),
        kv(std::move(k)),
        scheduler(std::move(s)),
        executor(std::move(e)),
        work(config.model, std::max(1, config.tensor_parallel)) {
    wall_clock = executor->is_real() && config.backend.realtime;
    wall_start = std::chrono::steady_clock::now();
    if (executor->runs_on_catalog_hardware()) {
      peak_flops_per_s = config.hardware.fp16_tflops * 1e12;
      peak_bytes_per_s = config.hardware.hbm_gb_s * 1e9;
    }
  }

  const ExperimentConfig config;  // a copy: make_engine may have sized its capacity
  std::unique_ptr<KvCacheManager> kv;
  std::unique_ptr<Scheduler> scheduler;
  std::unique_ptr<Executor> executor;
  bool audit_every_step = false;
  // A step's FLOPs and bytes, and the peaks its MFU and MBU are taken against (0: unknown).
  WorkCounter work;
  double peak_flops_per_s = 0;
  double peak_bytes_per_s = 0;

  // Clock: virtual (advanced by step durations, jumps over idle time) or wall.
  bool wall_clock = false;
  std::chrono::steady_clock::time_point wall_start;
  double now_s = 0;

  // Groups in the order added, by index: group i is groups[i - base]. A streaming engine
  // (set_sink) gives each group's record out and frees it once it and every group before it
  // ended, so `base` groups have gone; otherwise base stays 0 and every group is kept.
  std::deque<std::unique_ptr<SequenceGroup>> groups;
  size_t base = 0;
  SequenceGroup& group_at(size_t i) { return *groups[i - base]; }
  const SequenceGroup& group_at(size_t i) const { return *groups[i - base]; }
  size_t added() const { return base + groups.size(); }  // groups added in all
  double last_added_arrival = -std::numeric_limits<double>::infinity();
  std::unordered_map<RequestId, size_t> index_of;  // of the groups kept
  // Arrivals: groups in order from next_arrival (a follower, RequestSpec::follows, is skipped
  // there), and followers whose predecessor has ended, by (arrival, index).
  size_t next_arrival = 0;  // first group not yet arrived
  std::unordered_map<size_t, std::vector<size_t>> followers_of;  // predecessor index -> followers
  using Arrival = std::pair<double, size_t>;
  std::priority_queue<Arrival, std::vector<Arrival>, std::greater<>> released;
  PrefixCacheStats last_cache;  // the manager's counters after the previous step
  VirtualMemoryStats last_vmm;  // the manager's mapping counters at the previous step's plan
  SchedulerQueues queues;
  int64_t done = 0;        // finished + rejected
  int64_t outside_profile_steps = 0;  // StepResult::outside_profile
  int64_t idle_steps = 0;  // consecutive steps without work
  bool arrivals_open = false;   // set_arrivals_open
  bool awaiting_input = false;  // nothing to do until the next add_request (arrivals open)
  std::function<void(const SequenceGroup&, double)> on_end;  // set_on_end

  SchedulerOutput plan;
  std::vector<StepRecord> steps;  // every step recorded (none when streaming)
  // Streaming (set_sink): where rows go, the summary and digest of those given, the last step.
  RecordSink* sink = nullptr;
  std::unique_ptr<SummaryAccumulator> streamed;
  OutputDigest digest;
  bool streamed_token_ids = false;
  RequestId last_added_id = -1;
  int64_t steps_recorded = 0;
  StepRecord last_step;
  StepTotals unrecorded_steps;  // output.record_steps = false: the steps' summary inputs only
  std::vector<std::string> term_names;
  std::map<std::string, size_t> term_index;

  double wall_now() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  }
  bool all_done() const { return done == static_cast<int64_t>(added()); }

  void skip_followers() {
    next_arrival = std::max(next_arrival, base);  // the groups given out have all ended
    while (next_arrival < added() && group_at(next_arrival).spec.follows >= 0) ++next_arrival;
  }
  bool arrival_pending() {
    skip_followers();
    return next_arrival < added() || !released.empty();
  }
  // REQUIRES: arrival_pending(). The next group to arrive: the earlier of the two sources.
  Arrival next_arrival_of() {
    skip_followers();
    return peek_next_arrival(next_arrival);
  }
  // The same from `first` on, without moving next_arrival; {+inf, size} when none.
  Arrival peek_next_arrival(size_t first) const {
    first = std::max(first, base);
    while (first < added() && group_at(first).spec.follows >= 0) ++first;
    const Arrival none{std::numeric_limits<double>::infinity(), added()};
    const Arrival in_order = first < added() ? Arrival{group_at(first).spec.arrival_s, first} : none;
    if (released.empty()) return in_order;
    return released.top() < in_order ? released.top() : in_order;
  }

  void admit_arrivals() {
    if (released.empty()) {  // the common case: no conversations waiting on a turn
      next_arrival = std::max(next_arrival, base);
      while (next_arrival < added() && group_at(next_arrival).spec.arrival_s <= now_s) {
        if (group_at(next_arrival).spec.follows < 0) {
          queues.waiting.push_back(&group_at(next_arrival));
        }
        ++next_arrival;
      }
      return;
    }
    while (arrival_pending()) {
      const Arrival a = next_arrival_of();
      if (a.first > now_s) break;
      if (!released.empty() && released.top() == a) {
        released.pop();
      } else {
        ++next_arrival;
      }
      queues.waiting.push_back(&group_at(a.second));
    }
  }

  // `g` ended (finished or rejected) at `t`: the turns that follow it arrive after their think
  // time.
  void release_followers(const SequenceGroup& g, double t) {
    if (on_end) on_end(g, t);
    if (followers_of.empty()) return;
    const auto it = followers_of.find(index_of.at(g.id()));
    if (it == followers_of.end()) return;
    for (size_t f : it->second) {
      SequenceGroup& follower = group_at(f);
      follower.spec.arrival_s = t + follower.spec.think_time_s;
      released.emplace(follower.spec.arrival_s, f);
    }
  }

  // Moves the clock to the next arrival (nothing can run before it).
  void wait_for_next_arrival() {
    const double t = next_arrival_of().first;
    if (wall_clock) {
      const double delay = t - wall_now();
      if (delay > 0) std::this_thread::sleep_for(std::chrono::duration<double>(delay));
      now_s = std::max(t, wall_now());
    } else {
      now_s = std::max(now_s, t);
    }
  }

  // `seq` sampled a token at now_s (not its group's first): the gap since its previous one.
  void stamp_token(const Sequence& seq) {
    SequenceGroup& g = *seq.group;
    const auto k = static_cast<size_t>(&seq - g.seqs.data());
    g.itl_s[k].push_back(static_cast<float>(now_s - g.last_token_s[k]));
    g.last_token_s[k] = now_s;
  }

  // Measurements of a step that ran from `start` to now_s: when each group was first
  // scheduled and got its first token (every sample's, once it forked), each later token's
  // gap since the previous one of its sample, and when the groups `update` finished were done.
  void measure(const StepUpdate& update, double start) {
    for (const PrefillChunk& chunk : plan.prefills) {
      SequenceGroup& g = *chunk.seq->group;
      if (g.first_scheduled_s < 0) g.first_scheduled_s = start;
      if (!chunk.samples) continue;
      if (g.first_token_s >= 0) {
        stamp_token(*chunk.seq);  // a recomputed sample's next token: the gap spans the stall
        continue;
      }
      g.first_token_s = now_s;
      g.last_token_s.assign(g.seqs.size(), now_s);
      g.itl_s.resize(g.seqs.size());
      for (std::vector<float>& gaps : g.itl_s) {
        gaps.reserve(static_cast<size_t>(std::max(0, g.spec.output_len - 1)));
      }
    }
    for (const Sequence* seq : plan.decodes) stamp_token(*seq);
    for (SequenceGroup* g : update.finished) {
      g->finish_s = now_s;
      release_followers(*g, now_s);
    }
    done += static_cast<int64_t>(update.finished.size());
    if (!update.finished.empty()) give_out(false);
  }

  // `fork_copies` ran after the plan, for `copy_s` seconds, in the same step.
  // `sums`: the plan's work (sums_of), fork copies included.
  void record_step(double start, const StepResult& result, const std::vector<KvCopy>& fork_copies,
                   double copy_s, const MemoryBreakdown& memory, const PrefixCacheStats& cache,
                   const VirtualMemoryStats& vmm, const StepSums& sums) {
    StepRecord r;
    r.vmm_pages_mapped = vmm.pages_mapped - last_vmm.pages_mapped;
    r.vmm_pages_unmapped = vmm.pages_unmapped - last_vmm.pages_unmapped;
    r.kv_virtual_reserved = vmm.virtual_reserved_slots();
    r.vmm_calls = result.vmm_calls;
    r.vmm_s = result.vmm_s;
    r.cached_blocks = cache.cached_blocks;
    r.cache_hit_blocks = cache.hit_blocks - last_cache.hit_blocks;
    r.evicted_blocks = cache.evicted_blocks - last_cache.evicted_blocks;
    r.time_s = start;
    r.duration_s = result.duration_s + copy_s;
    r.batch_size = plan.batch_size();
    r.num_prefill_seqs = static_cast<int32_t>(plan.prefills.size());
    r.num_decode_seqs = static_cast<int32_t>(plan.decodes.size());
    r.prefill_tokens = plan.num_prefill_tokens;
    r.decode_tokens = plan.num_decode_tokens;
    r.num_running = static_cast<int32_t>(queues.running.size());
    r.num_waiting = static_cast<int32_t>(queues.waiting.size());
    r.num_swapped = static_cast<int32_t>(queues.swapped.size());
    r.memory = memory;
    for (const Preemption& p : plan.preempted) {
      (p.mode == PreemptionMode::kSwap ? r.num_preempted_swap : r.num_preempted_recompute) += 1;
    }
    const int64_t slot_bytes = config.model.kv_bytes_per_slot();
    auto bytes = [slot_bytes](const std::vector<KvCopy>& list) {
      int64_t slots = 0;
      for (const KvCopy& c : list) slots += c.num_slots;
      return slots * slot_bytes;
    };
    r.swap_out_bytes = bytes(plan.swap_out);
    r.swap_in_bytes = bytes(plan.swap_in);
    r.copy_bytes = bytes(plan.copies) + bytes(fork_copies);
    const StepWork done = work.count(sums);
    // The counter splits the work over the tensor-parallel ranks; pipeline stages split it
    // again (each GPU runs its stage's layers).
    const double stages = std::max(1, config.pipeline_parallel);
    r.mfu = static_cast<float>(
        utilization(done.flops() / stages, r.duration_s, peak_flops_per_s));
    r.mbu = static_cast<float>(
        utilization(done.bytes() / stages, r.duration_s, peak_bytes_per_s));
    r.terms.assign(term_names.size(), 0.0);
    auto add_term = [&](const std::string& name, double seconds) {
      auto it = term_index.find(name);
      if (it == term_index.end()) {
        it = term_index.emplace(name, term_names.size()).first;
        term_names.push_back(name);
        for (StepRecord& old : steps) old.terms.resize(term_names.size(), 0.0);
        r.terms.resize(term_names.size(), 0.0);
      }
      r.terms[it->second] += seconds;
    };
    for (const CostTerm& term : result.terms) add_term(term.name, term.seconds);
    // A column only in runs that copy for forks (contiguous with n > 1), so others keep theirs.
    if (!fork_copies.empty()) add_term(kForkCopyTerm, copy_s);
    ++steps_recorded;
    if (!config.record_steps) {
      unrecorded_steps.add(r);  // the summary still counts it
      last_step = std::move(r);
    } else if (sink != nullptr) {
      streamed->add(r);
      sink->on_step(r, term_names);
      last_step = std::move(r);
    } else {
      steps.push_back(std::move(r));
    }
  }

  // Streaming: gives out, in order, the groups at the front that ended (every group when
  // `all`), and frees them.
  void give_out(bool all) {
    if (sink == nullptr) return;
    while (!groups.empty() && (all || ended(*groups.front()))) {
      const SequenceGroup& g = *groups.front();
      RequestRecord r = record_of(g, streamed_token_ids);
      streamed->add(r);
      digest.add(r);
      followers_of.erase(base);
      index_of.erase(g.id());
      groups.pop_front();
      ++base;
      sink->on_request(std::move(r));
    }
  }

  std::string describe_deadlock() const {
    std::string s = "engine deadlock at t=" + std::to_string(now_s) +
                    "s: " + std::to_string(queues.waiting.size()) + " waiting, " +
                    std::to_string(queues.running.size()) + " running, " +
                    std::to_string(queues.swapped.size()) + " swapped, nothing can run (" +
                    kv->name() + ", " + std::to_string(kv->free_slots()) + " free slots of " +
                    std::to_string(kv->capacity_slots()) + ")";
    if (!queues.waiting.empty()) {
      const SequenceGroup& g = *queues.waiting.front();
      s += "; head of line: request " + std::to_string(g.id()) + " prompt " +
           std::to_string(g.spec.prompt_len) + " output " + std::to_string(g.spec.output_len) +
           " n " + std::to_string(g.spec.n) + ", admission says " + to_string(kv->can_admit(g));
    }
    return s;
  }
};

Engine::Engine(const ExperimentConfig& config, std::unique_ptr<KvCacheManager> kv,
               std::unique_ptr<Scheduler> scheduler, std::unique_ptr<Executor> executor)
    : state_(std::make_unique<State>(config, std::move(kv), std::move(scheduler),
                                     std::move(executor))) {}

Engine::~Engine() = default;

void Engine::add_request(const RequestSpec& spec) {
  State& s = *state_;
  check_invariant(s.index_of.count(spec.id) == 0, "request id added twice");
  check_invariant(s.last_added_arrival <= spec.arrival_s, "requests must be added in arrival order");
  if (s.sink != nullptr) {
    check_invariant(spec.id > s.last_added_id, "a streaming run's request ids must increase");
    check_invariant(spec.follows < 0, "a streaming run's requests cannot follow one another");
  }
  s.last_added_arrival = spec.arrival_s;
  s.last_added_id = spec.id;
  check_invariant(spec.prompt_len > 0 && spec.output_len > 0,
                  "request with empty prompt or output");
  if (spec.follows >= 0) {
    const auto it = s.index_of.find(spec.follows);
    check_invariant(it != s.index_of.end(), "a request follows one not added before it");
    check_invariant(spec.think_time_s >= 0, "a follower with a negative think time");
    s.followers_of[it->second].push_back(s.added());
  }
  s.index_of[spec.id] = s.added();
  s.groups.push_back(std::make_unique<SequenceGroup>(spec));
  s.awaiting_input = false;
}

void Engine::set_arrivals_open(bool open) {
  state_->arrivals_open = open;
  if (!open) state_->awaiting_input = false;  // the next step decides for good
}

double Engine::next_step_time() const {
  const State& s = *state_;
  if (s.all_done() || s.awaiting_input) return std::numeric_limits<double>::infinity();
  if (!s.queues.waiting.empty() || !s.queues.running.empty() || !s.queues.swapped.empty()) {
    return s.now_s;
  }
  const double next = s.peek_next_arrival(s.next_arrival).first;
  return std::max(s.now_s, next);
}

void Engine::set_on_end(std::function<void(const SequenceGroup&, double)> on_end) {
  state_->on_end = std::move(on_end);
}

int64_t Engine::outstanding() const {
  return static_cast<int64_t>(state_->added()) - state_->done;
}

bool Engine::step() {
  State& s = *state_;
  if (s.all_done()) return false;
  if (s.wall_clock) s.now_s = std::max(s.now_s, s.wall_now());
  s.admit_arrivals();
  if (s.queues.waiting.empty() && s.queues.running.empty() && s.queues.swapped.empty()) {
    check_invariant(s.arrival_pending(), "requests left but none queued or arriving");
    s.wait_for_next_arrival();
    s.admit_arrivals();
  }

  s.plan = s.scheduler->schedule(s.queues, *s.kv, s.now_s);
  for (const Rejection& r : s.plan.rejected) {
    r.group->status = GroupStatus::kRejected;
    if (r.group->reject_reason.empty()) r.group->reject_reason = r.reason;
    ++s.done;
    s.release_followers(*r.group, s.now_s);
  }
  if (!s.plan.rejected.empty()) s.give_out(false);

  if (!s.plan.has_work()) {
    const bool changed = !s.plan.rejected.empty() || !s.plan.preempted.empty() ||
                         !s.plan.swap_in.empty() || !s.plan.swap_out.empty();
    if (!changed && s.queues.running.empty()) {
      // Nothing runs and nothing changed: only a future arrival can unblock us.
      if (s.arrival_pending()) {
        s.wait_for_next_arrival();
        return true;
      }
      if (s.arrivals_open) {  // a request yet to be added may unblock it
        s.awaiting_input = true;
        return true;
      }
      if (!s.all_done()) throw InvariantError(s.describe_deadlock());
    }
    if (++s.idle_steps > 10000) throw InvariantError(s.describe_deadlock());
    return true;
  }
  s.idle_steps = 0;

  const KvCacheManager& kv = *s.kv;  // the Engine only reads the manager; the scheduler owns it
  const MemoryBreakdown memory =
      kv.breakdown(s.queues.waiting.empty() ? nullptr : s.queues.waiting.front());
  // Mapping counters at the same point (the executor prices the pages mapped since the last
  // plan: sim/sim_executor.cc reads them here too).
  const VirtualMemoryStats vmm = kv.virtual_memory_stats();
  const double start = s.now_s;
  StepSums sums = sums_of(s.plan);  // read before the step is applied
  const StepResult result = s.executor->execute(s.plan, kv);
  if (result.outside_profile) ++s.outside_profile_steps;
  const StepUpdate update = s.scheduler->update_from_output(s.plan, result, s.queues, *s.kv);
  // Fork copies run in the step that forked: the samples' first decodes, next step, read them.
  const double copy_s =
      update.fork_copies.empty() ? 0.0 : s.executor->copy_within(update.fork_copies);
  s.now_s = s.wall_clock ? std::max(start, s.wall_now()) : start + (result.duration_s + copy_s);
  s.measure(update, start);
  const PrefixCacheStats cache = s.kv->prefix_cache_stats();
  // Recorded or not, the step is summed for the summary (record_step keeps it or folds it).
  for (const KvCopy& c : update.fork_copies) {
    sums.device_copy_slots += static_cast<double>(c.num_slots);
  }
  s.record_step(start, result, update.fork_copies, copy_s, memory, cache, vmm, sums);
  s.last_cache = cache;
  s.last_vmm = vmm;
  if (s.audit_every_step) kv.audit();
  return true;
}

namespace {
// Steps recorded so far (the rows a results file will hold).
int64_t rows_of_steps(const ExperimentConfig& config, int64_t steps) {
  return config.record_steps ? steps : 0;
}
}  // namespace

RunResult Engine::run(const std::vector<RequestSpec>& requests,
                      const std::function<void(const EngineProgress&)>& progress) {
  const auto wall_start = std::chrono::steady_clock::now();
  for (const RequestSpec& r : requests) add_request(r);
  const State& s = *state_;
  auto report = [&]() {
    progress(EngineProgress{s.done, static_cast<int64_t>(s.added()), s.now_s,
                            rows_of_steps(s.config, s.steps_recorded)});
  };
  int64_t n = 0;
  while (step()) {
    if (progress && (++n % 512) == 0) report();
  }
  if (progress) report();
  return result(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count());
}

RunResult Engine::run(RequestSource& source, const StreamOptions& options,
                      const std::function<void(const EngineProgress&)>& progress) {
  const auto wall_start = std::chrono::steady_clock::now();
  State& s = *state_;
  check_invariant(s.added() == 0 && s.sink == nullptr, "a streaming run needs a fresh engine");
  check_invariant(options.sink != nullptr, "a streaming run without a sink");
  s.sink = options.sink;
  s.streamed = std::make_unique<SummaryAccumulator>(s.config.metrics, kStreamedValuesInMemory);
  const int64_t total = source.max_requests();
  auto report = [&]() {
    progress(EngineProgress{s.done, std::max<int64_t>(total, static_cast<int64_t>(s.added())),
                            s.now_s, rows_of_steps(s.config, s.steps_recorded)});
  };
  // As a cluster drives its replicas (core/cluster.cc): requests are added when the clock
  // reaches them, arrivals before steps; until the next arrival the engine steps alone.
  set_arrivals_open(true);
  RequestSpec next;
  bool pending = source.next(next);
  int64_t n = 0;
  while (true) {
    const double t_step = next_step_time();
    if (pending && next.arrival_s <= t_step) {
      add_request(next);
      pending = source.next(next);
      continue;
    }
    if (t_step == std::numeric_limits<double>::infinity()) {
      if (!s.arrivals_open) break;
      // Nothing more arrives: a step still waiting for input says why it is stuck.
      set_arrivals_open(false);
      continue;
    }
    const double horizon = pending ? next.arrival_s : std::numeric_limits<double>::infinity();
    do {
      step();
      if (progress && (++n % 512) == 0) report();
    } while (next_step_time() < horizon);
  }
  if (progress) report();
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();

  s.give_out(true);  // every request has ended (or the engine threw)
  RunResult out = run_totals(s);
  out.has_token_ids = s.streamed_token_ids;
  if (out.has_token_ids) out.output_digest = s.digest.value();
  if (out.prefix_cache.enabled && options.prefix_bound) {
    out.prefix_bound = options.prefix_bound(out.prefix_cache.block_size);
  }
  s.streamed->add(s.unrecorded_steps);
  out.summary = s.streamed->finish(out, s.kv->capacity_slots(), wall_s);
  return out;
}

RunResult Engine::result(double wall_s) const { return make_result(*state_, wall_s, nullptr); }

RunResult Engine::release_result(double wall_s) {
  std::vector<StepRecord> steps = std::move(state_->steps);
  state_->steps.clear();
  return make_result(*state_, wall_s, &steps);
}

RunResult Engine::run_totals(const State& s) {
  RunResult out;
  out.term_names = s.term_names;
  out.unrecorded_steps = s.unrecorded_steps;
  out.config = s.config.raw.resolved();
  out.prefix_cache = s.kv->prefix_cache_stats();
  out.virtual_memory = s.kv->virtual_memory_stats();
  out.profile_out_of_range_steps = s.outside_profile_steps;
  out.kv_bytes_per_slot = s.config.kv_bytes_per_slot_per_gpu();
  return out;
}

RunResult Engine::make_result(const State& s, double wall_s, std::vector<StepRecord>* take) {
  check_invariant(s.sink == nullptr, "a streaming run's result is the one run() returned");
  RunResult out = run_totals(s);
  if (take) {
    out.steps = std::move(*take);
  } else {
    out.steps = s.steps;
  }
  out.requests.reserve(s.groups.size());
  for (const auto& gp : s.groups) out.requests.push_back(record_of(*gp, out.has_token_ids));
  if (out.prefix_cache.enabled) {
    std::vector<RequestSpec> specs;
    specs.reserve(s.groups.size());
    for (const auto& gp : s.groups) specs.push_back(gp->spec);
    out.prefix_bound = unbounded_prefix_reuse(specs, out.prefix_cache.block_size);
  }
  if (out.has_token_ids) out.output_digest = output_digest(out.requests);
  out.summary = summarize(out, s.kv->capacity_slots(), wall_s, s.config.metrics);
  return out;
}

double Engine::now() const { return state_->now_s; }
const SchedulerQueues& Engine::queues() const { return state_->queues; }
const SchedulerOutput& Engine::last_plan() const { return state_->plan; }
const StepRecord& Engine::last_step() const {
  const State& s = *state_;
  check_invariant(s.steps_recorded > 0, "no step recorded yet");
  return s.steps.empty() ? s.last_step : s.steps.back();
}
const SequenceGroup* Engine::group(RequestId id) const {
  auto it = state_->index_of.find(id);
  return it == state_->index_of.end() ? nullptr : &state_->group_at(it->second);
}
const KvCacheManager& Engine::kv() const { return *state_->kv; }
const ExperimentConfig& Engine::config() const { return state_->config; }
void Engine::set_audit_every_step(bool on) { state_->audit_every_step = on; }

namespace {

// The entry `name` of `registry`; an unknown name is blamed on `key` (with its file and line).
template <typename R>
const auto& entry_of(const R& registry, const std::string& name, const Config& config,
                     const std::string& key) {
  if (!registry.contains(name)) config.fail(key, registry.unknown_message(name));
  return registry.entry(name);
}

// Creates `name` from `registry` (entry_of), and a factory's error naming a field
// (InputError::field()) gets that key's file and line.
template <typename R, typename C>
auto create_from(const R& registry, const std::string& name, const C& component_config,
                 const Config& config, const std::string& key) {
  const auto& entry = entry_of(registry, name, config, key);
  try {
    return entry.factory(component_config);
  } catch (const InputError& e) {
    // A factory's error about one of the config's keys, without a location, gets the place
    // the key was set (file and line, or --set).
    if (e.has_location() || e.field().empty()) throw;
    auto it = config.values().find(e.field());
    if (it == config.values().end()) throw;
    throw e.with_location(it->second.origin, it->second.line);
  }
}

}  // namespace

void validate_engine_config(const ExperimentConfig& config) {
  const Config& c = config.raw;
  create_from(memory_policies(), config.memory.policy, config.memory, c, "memory.policy");
  create_from(schedulers(), config.scheduler.batching, config.scheduler, c, "scheduler.batching");
  const ExecutorConfigCheck& check =
      entry_of(executors(), config.backend.kind, c, "backend.kind").traits.check_config;
  if (check) check(config);
}

std::vector<NeverRuns> predict_rejections(const ExperimentConfig& config,
                                          const std::vector<RequestSpec>& requests) {
  return predict_rejections(config, [&requests](const std::function<void(const RequestSpec&)>& visit) {
    for (const RequestSpec& r : requests) visit(r);
  });
}

std::vector<NeverRuns> predict_rejections(const ExperimentConfig& config,
                                          const RequestPass& requests) {
  const Config& c = config.raw;
  const auto kv = create_from(memory_policies(), config.memory.policy, config.memory, c, "memory.policy");
  const auto scheduler = create_from(schedulers(), config.scheduler.batching, config.scheduler, c,
                                     "scheduler.batching");
  std::vector<NeverRuns> out;
  requests([&](const RequestSpec& spec) {
    RequestSpec lengths = spec;  // the group's shape; token ids play no part in admission
    lengths.prompt_tokens.clear();
    const SequenceGroup group(std::move(lengths));
    std::string reason = scheduler->rejection_reason(group, *kv);
    if (!reason.empty()) out.push_back(NeverRuns{spec.id, spec.source_line, std::move(reason)});
  });
  return out;
}

std::unique_ptr<Engine> make_engine(const ExperimentConfig& resolved,
                                    const ExecutorWrapper& wrap_executor) {
  ExperimentConfig config = resolved;
  const KvCapacityProbe& probe =
      entry_of(executors(), config.backend.kind, config.raw, "backend.kind").traits.capacity_probe;
  if (config.kv_capacity_derived && probe) {
    // Measured on the device before the manager exists, so the manager and the executor's
    // arena agree on the capacity.
    config.memory.capacity_slots = probe(config);
    check_invariant(config.memory.capacity_slots > 0, "capacity probe returned no slots");
  }
  const Config& c = config.raw;
  auto kv = create_from(memory_policies(), config.memory.policy, config.memory, c, "memory.policy");
  auto scheduler = create_from(schedulers(), config.scheduler.batching, config.scheduler, c,
                               "scheduler.batching");
  std::unique_ptr<Executor> executor =
      create_from(executors(), config.backend.kind, config, c, "backend.kind");
  if (wrap_executor) executor = wrap_executor(std::move(executor));
  return std::make_unique<Engine>(config, std::move(kv), std::move(scheduler), std::move(executor));
}

}  // namespace kvlab
