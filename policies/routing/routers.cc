#include "policies/routing/routers.h"

#include <algorithm>
#include <random>

namespace kvlab {

namespace {

std::vector<size_t> all_of(const std::vector<ReplicaView>& replicas) {
  std::vector<size_t> out(replicas.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = i;
  return out;
}

class RoundRobinRouter final : public Router {
 public:
  std::string name() const override { return "round_robin"; }
  size_t route(const SequenceGroup&, const std::vector<ReplicaView>& replicas) override {
    return next_++ % replicas.size();
  }

 private:
  size_t next_ = 0;
};

class LeastOutstandingRouter final : public Router {
 public:
  std::string name() const override { return "least_outstanding"; }
  size_t route(const SequenceGroup&, const std::vector<ReplicaView>& replicas) override {
    return least_outstanding_of(replicas, all_of(replicas));
  }
};

class LeastKvRouter final : public Router {
 public:
  std::string name() const override { return "least_kv"; }
  size_t route(const SequenceGroup&, const std::vector<ReplicaView>& replicas) override {
    size_t best = 0;
    double best_load = replicas[0].kv_load();
    for (size_t i = 1; i < replicas.size(); ++i) {
      const double load = replicas[i].kv_load();
      if (load < best_load ||
          (load == best_load && replicas[i].outstanding < replicas[best].outstanding)) {
        best = i;
        best_load = load;
      }
    }
    return best;
  }
};

class PowerOfTwoRouter final : public Router {
 public:
  explicit PowerOfTwoRouter(uint64_t seed) : rng_(seed) {}
  std::string name() const override { return "power_of_two"; }
  size_t route(const SequenceGroup&, const std::vector<ReplicaView>& replicas) override {
    if (replicas.size() == 1) return 0;
    // Two distinct replicas, uniformly (the draw itself, not std::uniform_int_distribution,
    // whose output differs between standard libraries).
    const uint64_t n = replicas.size();
    const size_t a = static_cast<size_t>(rng_() % n);
    size_t b = static_cast<size_t>(rng_() % (n - 1));
    if (b >= a) ++b;
    return least_outstanding_of(replicas, {std::min(a, b), std::max(a, b)});
  }

 private:
  std::mt19937_64 rng_;
};

class PrefixAffinityRouter final : public Router {
 public:
  explicit PrefixAffinityRouter(int64_t max_imbalance) : max_imbalance_(max_imbalance) {}
  std::string name() const override { return "prefix_affinity"; }
  size_t route(const SequenceGroup& group, const std::vector<ReplicaView>& replicas) override {
    const std::vector<size_t> all = all_of(replicas);
    const size_t least = least_outstanding_of(replicas, all);
    size_t best = least;
    int32_t best_cached = 0;
    for (size_t i = 0; i < replicas.size(); ++i) {
      if (replicas[i].outstanding - replicas[least].outstanding > max_imbalance_) continue;
      const int32_t cached = replicas[i].kv->probe_cached_prefix(group.seqs[0]);
      if (cached > best_cached) {
        best = i;
        best_cached = cached;
      }
    }
    return best;
  }

 private:
  int64_t max_imbalance_;
};

}  // namespace

void register_routers(RouterRegistry& registry) {
  registry.add({"round_robin",
                [](const RouterConfig&) { return std::make_unique<RoundRobinRouter>(); },
                "replicas in turn, whatever their load"});
  registry.add({"least_outstanding",
                [](const RouterConfig&) { return std::make_unique<LeastOutstandingRouter>(); },
                "the replica with the fewest requests routed and not yet done"});
  registry.add({"least_kv", [](const RouterConfig&) { return std::make_unique<LeastKvRouter>(); },
                "the replica whose memory manager holds the least KV (then fewest outstanding)"});
  registry.add({"power_of_two",
                [](const RouterConfig& c) { return std::make_unique<PowerOfTwoRouter>(c.seed); },
                "two replicas at random, the one with fewer outstanding requests"});
  registry.add(
      {"prefix_affinity",
       [](const RouterConfig& c) {
         return std::make_unique<PrefixAffinityRouter>(
             c.settings.get_int("cluster.affinity_max_imbalance"));
       },
       "the replica caching the longest prefix of the prompt, within a load bound",
       {int_key("cluster.affinity_max_imbalance", 32, 0, kUnbounded,
                "prefix_affinity: a replica with more than this many outstanding requests above "
                "the least loaded one is not chosen for its cache (SGLang's router: "
                "balance_abs_threshold 32)")}});
}

}  // namespace kvlab
