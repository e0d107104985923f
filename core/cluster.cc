#include "core/cluster.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <queue>
#include <tuple>
#include <unordered_map>

#include "core/block_hash.h"
#include "core/errors.h"

namespace kvlab {

const char* to_string(ReplicaRole role) {
  switch (role) {
    case ReplicaRole::kMixed:
      return "mixed";
    case ReplicaRole::kPrefill:
      return "prefill";
    case ReplicaRole::kDecode:
      return "decode";
  }
  return "?";
}

namespace {

constexpr double kNever = std::numeric_limits<double>::infinity();
constexpr int32_t kNoReplica = -1;

// A disaggregated cluster's events besides arrivals and steps.
enum class EventKind { kKvReady, kDecodeArrival };
struct Event {
  double time = 0;
  int64_t order = 0;  // ties: in the order they were made
  EventKind kind = EventKind::kKvReady;
  size_t request = 0;  // position in the run's requests
  bool operator>(const Event& o) const { return std::tie(time, order) > std::tie(o.time, o.order); }
};

// Where each of `names` sits in `union_names`, adding the names it lacks.
std::vector<size_t> term_slots(const std::vector<std::string>& names,
                               std::vector<std::string>& union_names,
                               std::map<std::string, size_t>& index) {
  std::vector<size_t> slots;
  slots.reserve(names.size());
  for (const std::string& name : names) {
    auto it = index.find(name);
    if (it == index.end()) {
      it = index.emplace(name, union_names.size()).first;
      union_names.push_back(name);
    }
    slots.push_back(it->second);
  }
  return slots;
}

void add_stats(PrefixCacheStats& total, const PrefixCacheStats& s) {
  if (!s.enabled) return;
  const PrefixCacheStats before = total;
  total = s;
  if (!before.enabled) return;
  total.cached_blocks += before.cached_blocks;
  total.evictable_blocks += before.evictable_blocks;
  total.hit_blocks += before.hit_blocks;
  total.evicted_blocks += before.evicted_blocks;
}

void add_stats(VirtualMemoryStats& total, const VirtualMemoryStats& s) {
  if (!s.enabled) return;
  const VirtualMemoryStats before = total;
  total = s;
  if (!before.enabled) return;
  total.ranges_total += before.ranges_total;
  total.ranges_in_use += before.ranges_in_use;
  total.pages_mapped += before.pages_mapped;
  total.pages_unmapped += before.pages_unmapped;
}

}  // namespace

struct Cluster::State {
  std::vector<ClusterReplica> replicas;
  std::unique_ptr<Router> router;
  std::unique_ptr<Router> decode_router;
  std::unique_ptr<KvTransferModel> transfers;
  std::vector<size_t> entry_pool;   // where arrivals go: mixed, or prefill replicas
  std::vector<size_t> decode_pool;  // decode replicas (disaggregated)
  std::vector<ReplicaView> views;   // reused for every routing decision

  // The run.
  const std::vector<RequestSpec>* requests = nullptr;
  std::unordered_map<RequestId, size_t> position;  // request id -> position
  std::vector<int32_t> first_replica;              // where each request was routed
  std::vector<int32_t> decode_replica;             // disaggregated: where its decode went
  std::vector<double> prefill_end_s;
  std::vector<double> transfer_s;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events;
  int64_t event_order = 0;

  bool disaggregated() const { return !decode_pool.empty(); }

  // When each replica steps next: a heap of (time, replica), entries made stale by a later
  // change of their replica (version) skipped when they surface.
  struct Due {
    double time;
    size_t replica;
    uint64_t version;
    bool operator>(const Due& o) const { return std::tie(time, replica) > std::tie(o.time, o.replica); }
  };
  std::priority_queue<Due, std::vector<Due>, std::greater<>> due;
  std::vector<uint64_t> version;

  // Replica `r` stepped, or was given a request: when it steps next.
  void touch(size_t r) {
    ++version[r];
    const double t = replicas[r].engine->next_step_time();
    if (t < kNever) due.push(Due{t, r, version[r]});
  }
  // The replica that steps first (ties: lowest index) and when; {size, kNever} when none can.
  std::pair<size_t, double> first_due() {
    while (!due.empty() && due.top().version != version[due.top().replica]) due.pop();
    if (due.empty()) return {replicas.size(), kNever};
    return {due.top().replica, due.top().time};
  }

  void push(double time, EventKind kind, size_t request) {
    events.push(Event{time, event_order++, kind, request});
  }

  // Routes `group`'s request among `pool` with `r`; returns the replica index.
  size_t pick(Router& r, const std::vector<size_t>& pool, const SequenceGroup& group) {
    views.resize(pool.size());
    for (size_t i = 0; i < pool.size(); ++i) {
      const Engine& e = *replicas[pool[i]].engine;
      views[i] = ReplicaView{static_cast<int32_t>(pool[i]), e.outstanding(), &e.kv()};
    }
    const size_t chosen = r.route(group, views);
    check_invariant(chosen < pool.size(), "router '" + r.name() + "' chose no replica");
    return pool[chosen];
  }

  void route_arrival(size_t pos) {
    const RequestSpec& spec = (*requests)[pos];
    size_t replica;
    if (spec.follows >= 0) {
      // A conversation's next turn: where the turn before it went (the Engine releases it).
      replica = static_cast<size_t>(first_replica.at(position.at(spec.follows)));
    } else if (entry_pool.size() == 1) {
      replica = entry_pool.front();
    } else {
      replica = pick(*router, entry_pool, SequenceGroup(spec));
    }
    first_replica[pos] = static_cast<int32_t>(replica);
    Engine& engine = *replicas[replica].engine;
    if (!disaggregated()) {
      engine.add_request(spec);
    } else {
      RequestSpec prefill = spec;  // the prompt and the first token
      prefill.output_len = 1;
      engine.add_request(prefill);
    }
    touch(replica);
  }

  // A prefill replica's request ended at `t`.
  void on_prefill_end(const SequenceGroup& g, double t) {
    const size_t pos = position.at(g.id());
    prefill_end_s[pos] = t;
    if (g.status != GroupStatus::kFinished || (*requests)[pos].output_len <= 1) return;
    push(t, EventKind::kKvReady, pos);
  }

  void handle(const Event& e) {
    const RequestSpec& spec = (*requests)[e.request];
    if (e.kind == EventKind::kKvReady) {
      const size_t dst = pick(*decode_router, decode_pool, SequenceGroup(spec));
      decode_replica[e.request] = static_cast<int32_t>(dst);
      const auto src = static_cast<size_t>(first_replica[e.request]);
      const ExperimentConfig& c = replicas[src].engine->config();
      // The whole model's KV of the prompt: every layer, every head.
      const int64_t bytes = static_cast<int64_t>(spec.prompt_len) * c.model.kv_bytes_per_slot();
      const double arrive = transfers->transfer(e.time, bytes, static_cast<int32_t>(src),
                                                static_cast<int32_t>(dst));
      check_invariant(arrive >= e.time, "a KV transfer that ends before it starts");
      transfer_s[e.request] = arrive - e.time;
      push(arrive, EventKind::kDecodeArrival, e.request);
      return;
    }
    RequestSpec decode = spec;  // the prompt's KV is here; the first token was generated
    decode.arrival_s = e.time;
    decode.prompt_len = spec.prompt_len + 1;
    decode.output_len = spec.output_len - 1;
    decode.transferred_len = spec.prompt_len;
    decode.follows = -1;
    const auto d = static_cast<size_t>(decode_replica[e.request]);
    replicas[d].engine->add_request(decode);
    touch(d);
  }

  RunResult assemble(double wall_s);
};

ReplicaResult describe_replica(const ClusterReplica& replica, size_t index, const Summary& summary,
                               int64_t requests) {
  const Engine& e = *replica.engine;
  ReplicaResult rr;
  rr.index = static_cast<int32_t>(index);
  rr.name = replica.name;
  rr.role = to_string(replica.role);
  rr.hardware = e.config().hardware.name;
  rr.memory_policy = e.config().memory.policy;
  rr.tensor_parallel = e.config().tensor_parallel;
  rr.capacity_slots = e.kv().capacity_slots();
  rr.requests = requests;
  rr.summary = summary;
  return rr;
}

Cluster::Cluster(std::vector<ClusterReplica> replicas, std::unique_ptr<Router> router,
                 std::unique_ptr<Router> decode_router, std::unique_ptr<KvTransferModel> transfers)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  check_invariant(!replicas.empty(), "a cluster without replicas");
  check_invariant(router != nullptr, "a cluster without a router");
  s.replicas = std::move(replicas);
  s.router = std::move(router);
  s.decode_router = std::move(decode_router);
  s.transfers = std::move(transfers);
  size_t mixed = 0;
  for (size_t i = 0; i < s.replicas.size(); ++i) {
    switch (s.replicas[i].role) {
      case ReplicaRole::kMixed:
        ++mixed;
        s.entry_pool.push_back(i);
        break;
      case ReplicaRole::kPrefill:
        s.entry_pool.push_back(i);
        break;
      case ReplicaRole::kDecode:
        s.decode_pool.push_back(i);
        break;
    }
  }
  if (s.disaggregated()) {
    check_invariant(mixed == 0 && !s.entry_pool.empty() && s.decode_router && s.transfers,
                    "a disaggregated cluster needs prefill and decode replicas only, a decode "
                    "router and a transfer model");
  }
}

Cluster::~Cluster() = default;

bool Cluster::disaggregated() const { return state_->disaggregated(); }
size_t Cluster::num_replicas() const { return state_->replicas.size(); }
const Engine& Cluster::engine(size_t replica) const { return *state_->replicas.at(replica).engine; }

RunResult Cluster::run(const std::vector<RequestSpec>& requests,
                       const std::function<void(const ClusterProgress&)>& progress) {
  const auto wall_start = std::chrono::steady_clock::now();
  State& s = *state_;
  const size_t n = requests.size();
  s.requests = &requests;
  s.position.clear();
  s.position.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    check_invariant(s.position.emplace(requests[i].id, i).second, "request id given twice");
    check_invariant(i == 0 || requests[i - 1].arrival_s <= requests[i].arrival_s,
                    "cluster requests must be sorted by arrival");
  }
  s.first_replica.assign(n, kNoReplica);
  s.decode_replica.assign(n, kNoReplica);
  s.prefill_end_s.assign(n, -1.0);
  s.transfer_s.assign(n, 0.0);
  s.due = {};
  s.version.assign(s.replicas.size(), 0);
  for (ClusterReplica& r : s.replicas) {
    r.engine->set_arrivals_open(true);
    if (r.role == ReplicaRole::kPrefill) {
      r.engine->set_on_end([&s](const SequenceGroup& g, double t) { s.on_prefill_end(g, t); });
    }
  }

  size_t next = 0;  // the next request to route
  bool open = true;
  int64_t steps = 0;
  auto report = [&]() {
    ClusterProgress p;
    p.total = static_cast<int64_t>(n);
    for (const ClusterReplica& r : s.replicas) p.now_s = std::max(p.now_s, r.engine->now());
    int64_t outstanding = 0;
    for (const ClusterReplica& r : s.replicas) outstanding += r.engine->outstanding();
    // Routed (the first `next`) and ended, less the prefills still to move (they end again at
    // their decode replica).
    p.done = static_cast<int64_t>(next) - outstanding - static_cast<int64_t>(s.events.size());
    p.steps = steps;
    progress(p);
  };

  while (true) {
    const double t_arrival = next < n ? requests[next].arrival_s : kNever;
    const double t_event = s.events.empty() ? kNever : s.events.top().time;
    const auto [stepper, t_step] = s.first_due();
    if (next < n && t_arrival <= t_event && t_arrival <= t_step) {  // arrivals before steps
      s.route_arrival(next++);
      continue;
    }
    if (!s.events.empty() && t_event <= t_step) {
      const Event e = s.events.top();
      s.events.pop();
      s.handle(e);
      continue;
    }
    if (stepper == s.replicas.size()) {
      if (!open) break;
      // Nothing more will be routed: a replica still waiting for input is stuck for good,
      // and its next step says why.
      open = false;
      for (size_t r = 0; r < s.replicas.size(); ++r) {
        s.replicas[r].engine->set_arrivals_open(false);
        s.touch(r);
      }
      continue;
    }
    // Without transfers, replicas meet only at arrivals: until the next one, a replica's steps
    // depend on nobody else's, so it runs on alone (fewer switches between engines' memory:
    // 8 replicas ran 2x slower interleaved step by step). A disaggregated cluster's prefill
    // ends make events at times not known in advance: one step at a time there.
    Engine& engine = *s.replicas[stepper].engine;
    const double horizon = s.disaggregated() ? t_step : t_arrival;
    do {
      engine.step();
      if (progress && (++steps % 512) == 0) report();
    } while (engine.next_step_time() < horizon);
    s.touch(stepper);
  }
  if (progress) report();
  RunResult out = s.assemble(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count());
  return out;
}

RunResult Cluster::State::assemble(double wall_s) {
  std::vector<RunResult> parts;
  parts.reserve(replicas.size());
  int64_t capacity = 0;
  for (const ClusterReplica& r : replicas) {
    parts.push_back(r.engine->release_result(wall_s));
    capacity += r.engine->kv().capacity_slots();
  }
  std::vector<ReplicaResult> per_replica;
  for (size_t i = 0; i < replicas.size(); ++i) {
    per_replica.push_back(describe_replica(replicas[i], i, parts[i].summary,
                                           static_cast<int64_t>(parts[i].requests.size())));
  }
  if (replicas.size() == 1) {  // a lone engine's result, as it is
    RunResult out = std::move(parts.front());
    out.replicas = std::move(per_replica);
    return out;
  }

  RunResult out;
  const ExperimentConfig& first = replicas.front().engine->config();
  out.config = first.raw.resolved();
  out.kv_bytes_per_slot = first.kv_bytes_per_slot_per_gpu();

  // Requests, in the run's order, each with the replicas that served it.
  std::vector<std::unordered_map<RequestId, size_t>> index(parts.size());
  for (size_t r = 0; r < parts.size(); ++r) {
    index[r].reserve(parts[r].requests.size());
    for (size_t k = 0; k < parts[r].requests.size(); ++k) index[r][parts[r].requests[k].id] = k;
  }
  const size_t n = requests->size();
  out.requests.resize(n);
  for (size_t pos = 0; pos < n; ++pos) {
    const RequestSpec& spec = (*requests)[pos];
    const auto r = static_cast<size_t>(first_replica[pos]);
    RequestRecord& rec = out.requests[pos];
    rec = std::move(parts[r].requests[index[r].at(spec.id)]);
    rec.replica = static_cast<int32_t>(r);
    if (!disaggregated()) continue;
    rec.prefill_replica = static_cast<int32_t>(r);
    rec.output_len = spec.output_len;
    if (decode_replica[pos] == kNoReplica) {
      // Finished at the prefill (one token), or rejected or unfinished there.
      if (rec.outcome == RequestOutcome::kFinished && spec.output_len > 1) {
        rec.outcome = RequestOutcome::kUnfinished;  // its KV never reached a decode replica
      }
      continue;
    }
    const auto d = static_cast<size_t>(decode_replica[pos]);
    RequestRecord& decode = parts[d].requests[index[d].at(spec.id)];
    rec.replica = static_cast<int32_t>(d);
    rec.kv_transfer_s = transfer_s[pos];
    rec.finish_s = decode.finish_s;
    rec.generated_tokens += decode.generated_tokens;
    rec.num_preemptions += decode.num_preemptions;
    rec.num_recomputes += decode.num_recomputes;
    rec.num_swaps += decode.num_swaps;
    rec.cached_tokens += decode.cached_tokens;
    rec.outcome = decode.outcome;
    if (!decode.reject_reason.empty()) rec.reject_reason = "decode replica: " + decode.reject_reason;
    if (decode.first_token_s >= 0) {
      // The gap from the prefill's token to the decode replica's first, then the decode's.
      rec.itl_s.push_back(static_cast<float>(decode.first_token_s - rec.first_token_s));
      rec.itl_s.insert(rec.itl_s.end(), decode.itl_s.begin(), decode.itl_s.end());
    }
  }

  // Steps of every replica, each marked, in start order (ties: replica order). Each
  // replica's steps are in start order already: merged through an index, moved once.
  std::map<std::string, size_t> term_index;
  std::vector<std::vector<size_t>> slots(parts.size());
  for (size_t r = 0; r < parts.size(); ++r) {
    slots[r] = term_slots(parts[r].term_names, out.term_names, term_index);
    out.unrecorded_steps.add(parts[r].unrecorded_steps);
    add_stats(out.prefix_cache, parts[r].prefix_cache);
    add_stats(out.virtual_memory, parts[r].virtual_memory);
    out.profile_out_of_range_steps += parts[r].profile_out_of_range_steps;
    out.has_token_ids = out.has_token_ids || parts[r].has_token_ids;
  }
  struct StepRef {
    double time_s;
    uint32_t replica;
    uint32_t index;
  };
  std::vector<StepRef> order;
  for (size_t r = 0; r < parts.size(); ++r) {
    for (size_t k = 0; k < parts[r].steps.size(); ++k) {
      order.push_back(StepRef{parts[r].steps[k].time_s, static_cast<uint32_t>(r),
                              static_cast<uint32_t>(k)});
    }
  }
  std::sort(order.begin(), order.end(), [](const StepRef& a, const StepRef& b) {
    return std::tie(a.time_s, a.replica, a.index) < std::tie(b.time_s, b.replica, b.index);
  });
  out.steps.reserve(order.size());
  for (const StepRef& ref : order) {
    StepRecord& step = parts[ref.replica].steps[ref.index];
    step.replica = static_cast<int32_t>(ref.replica);
    std::vector<double> terms(out.term_names.size(), 0.0);
    const std::vector<size_t>& to = slots[ref.replica];
    for (size_t k = 0; k < step.terms.size() && k < to.size(); ++k) terms[to[k]] += step.terms[k];
    step.terms = std::move(terms);
    out.steps.push_back(std::move(step));
  }
  for (RunResult& p : parts) std::vector<StepRecord>().swap(p.steps);
  if (out.prefix_cache.enabled) {
    out.prefix_bound = unbounded_prefix_reuse(*requests, out.prefix_cache.block_size);
  }
  if (out.has_token_ids) out.output_digest = output_digest(out.requests);
  out.summary = summarize(out, capacity, wall_s, first.metrics);
  // Per GPU of each replica, summed: the replicas' bytes per slot may differ.
  double gib = 0;
  for (const ReplicaResult& r : per_replica) gib += r.summary.get("kv_capacity_gib");
  out.summary.set("kv_capacity_gib", gib);
  out.replicas = std::move(per_replica);
  return out;
}

}  // namespace kvlab
