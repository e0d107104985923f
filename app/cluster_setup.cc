#include "app/cluster_setup.h"

#include "app/resolve_experiment.h"
#include "core/engine.h"
#include "core/executor.h"
#include "core/splitmix.h"

namespace kvlab {

namespace {

// The stream of routers that draw, from workload.seed.
constexpr uint64_t kRouterStream = 0x726f75746572ULL;  // "router"

ReplicaRole role_of(const std::string& text) {
  if (text == "prefill") return ReplicaRole::kPrefill;
  if (text == "decode") return ReplicaRole::kDecode;
  return ReplicaRole::kMixed;
}

}  // namespace

bool ClusterSetup::disaggregated() const {
  for (const ReplicaSetup& r : replicas) {
    if (r.role != ReplicaRole::kMixed) return true;
  }
  return false;
}

ClusterSetup resolve_cluster(const Config& point, const ExperimentConfig& base) {
  ClusterSetup out;
  out.router = point.get_choice("cluster.router");
  out.decode_router = point.get_choice("cluster.decode_router");
  const std::vector<ReplicaGroup>& groups = point.replica_groups();
  if (groups.empty()) {
    const auto n = static_cast<size_t>(point.get_int("cluster.replicas"));
    out.replicas.assign(n, ReplicaSetup{base, ReplicaRole::kMixed, ""});
  } else {
    int64_t total = 0;
    for (const ReplicaGroup& g : groups) {
      Config c = point;
      c.clear_replica_groups();
      int64_t count = 1;
      ReplicaRole role = ReplicaRole::kMixed;
      for (const auto& [key, value] : g.values) {
        if (key == "count") {
          count = std::stoll(value.value);  // checked when parsed
        } else if (key == "role") {
          role = role_of(value.value);
        } else {
          c.set(key, value.value, value.origin, value.line);
        }
      }
      ExperimentConfig resolved = resolve_experiment(c);
      validate_engine_config(resolved);
      for (int64_t i = 0; i < count; ++i) out.replicas.push_back(ReplicaSetup{resolved, role, g.name});
      total += count;
    }
    if (point.has("cluster.replicas") && point.get_int("cluster.replicas") != total) {
      point.fail("cluster.replicas",
                 "the [replica.*] sections hold " + std::to_string(total) +
                     " replicas (their counts); leave cluster.replicas unset or give that total");
    }
  }
  if (out.replicas.size() > 1) {
    for (const ReplicaSetup& r : out.replicas) {
      if (executors().entry(r.config.backend.kind).traits.real) {
        const std::string why = "a cluster of " + std::to_string(out.replicas.size()) +
                                " replicas runs on the simulator (backend.kind = sim); the real "
                                "back ends run one engine";
        if (r.config.raw.has("backend.kind")) r.config.raw.fail("backend.kind", why);
        point.fail("cluster.replicas", why);
      }
    }
  }
  if (out.disaggregated()) {
    size_t prefill = 0, decode = 0, mixed = 0;
    for (const ReplicaSetup& r : out.replicas) {
      prefill += r.role == ReplicaRole::kPrefill;
      decode += r.role == ReplicaRole::kDecode;
      mixed += r.role == ReplicaRole::kMixed;
    }
    if (mixed > 0 || prefill == 0 || decode == 0) {
      const ReplicaGroup& g = groups.front();
      const std::string key = "replica." + g.name + ".role";
      const std::string why =
          "a disaggregated cluster has prefill and decode replicas only (here " +
          std::to_string(prefill) + " prefill, " + std::to_string(decode) + " decode, " +
          std::to_string(mixed) + " mixed)";
      const auto it = g.values.find("role");
      if (it != g.values.end()) throw InputError(it->second.origin, it->second.line, key, why);
      throw InputError(g.header.origin, g.header.line, key, why);
    }
    if (base.workload.n > 1) {
      point.fail("workload.n", "a disaggregated cluster moves one sequence's KV per request: "
                               "parallel samples (n > 1) are not supported there");
    }
    if (base.workload.multi_turn) {
      point.fail("workload.multi_turn",
                 "a disaggregated cluster does not follow conversations turn by turn");
    }
  }
  return out;
}

std::unique_ptr<Cluster> make_cluster(const ClusterSetup& setup, const ExperimentConfig& base,
                                      bool audit_every_step) {
  std::vector<ClusterReplica> replicas;
  std::vector<const ExperimentConfig*> configs;
  for (const ReplicaSetup& r : setup.replicas) {
    std::unique_ptr<Engine> engine = make_engine(r.config);
    engine->set_audit_every_step(audit_every_step);
    configs.push_back(&engine->config());
    replicas.push_back(ClusterReplica{std::move(engine), r.role, r.name});
  }
  const RouterConfig router_config{splitmix64(base.workload.seed ^ kRouterStream), base.raw};
  std::unique_ptr<Router> router = routers().create(setup.router, router_config);
  std::unique_ptr<Router> decode_router;
  std::unique_ptr<KvTransferModel> fleet;
  if (setup.disaggregated()) {
    decode_router = routers().create(setup.decode_router, router_config);
    fleet = std::make_unique<Fleet>(configs);
  }
  return std::make_unique<Cluster>(std::move(replicas), std::move(router),
                                   std::move(decode_router), std::move(fleet));
}

}  // namespace kvlab
