// Cluster: N replicas behind a router, on one virtual clock (issue 13; docs/cluster-sim.md).
// Each replica is an Engine of its own (scheduler, memory manager, executor, hardware and
// parallelism: a fleet may mix them); the Router (core/router.h) picks the replica of each
// request when it arrives, from what the replicas show at that moment.
//
// One clock, discrete events in time order: a request's arrival, a replica's next step
// (Engine::next_step_time), and in a disaggregated cluster a prefill's end (its KV is ready
// to move) and a KV transfer's end (the request reaches its decode replica). At equal times
// arrivals and transfers come before steps, replicas in index order, so the same input
// routes and runs alike, and a replica's step sees every request routed to it before the
// step starts. A conversation's later turns go where its first turn went.
//
// Disaggregated prefill and decode (Splitwise, DistServe, Mooncake): replicas of role
// "prefill" compute prompts (each request there generates its first token and ends), then
// the prompt's KV moves to a decode replica picked by the decode router, priced by the
// KvTransferModel (sim/fleet.h: bytes over the topology's links, transfers contending for
// them), and the request continues there with its prompt's KV present
// (RequestSpec::transferred_len): the decode replica admits it only when its manager can
// hold that KV. Between the two the KV is held by the transfer layer (Mooncake's store),
// charged to neither replica.
//
// With one replica and any router the Cluster runs exactly what a lone Engine runs.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/engine.h"
#include "core/router.h"

namespace kvlab {

enum class ReplicaRole { kMixed, kPrefill, kDecode };
const char* to_string(ReplicaRole role);

// Prices moving a request's KV from one replica to another.
class KvTransferModel {
 public:
  virtual ~KvTransferModel() = default;
  // `bytes` of KV (the whole model's, every layer and head) leave replica `src` for replica
  // `dst` once ready at `ready_s`; returns when they have all arrived. Reserves the links
  // they cross, so later transfers over them wait.
  virtual double transfer(double ready_s, int64_t bytes, int32_t src, int32_t dst) = 0;
};

struct ClusterReplica {
  std::unique_ptr<Engine> engine;
  ReplicaRole role = ReplicaRole::kMixed;
  std::string name;  // its [replica.NAME] group ("" when the replicas are alike)
};

// What a results file says of replica `index` once its engine ran: its settings, `summary`
// (its own) and the `requests` it ran.
ReplicaResult describe_replica(const ClusterReplica& replica, size_t index, const Summary& summary,
                               int64_t requests);

struct ClusterProgress {
  int64_t done = 0, total = 0;
  double now_s = 0;
  int64_t steps = 0;
};

class Cluster {
 public:
  // REQUIRES: replicas not empty; either every role is kMixed, or there are prefill and
  // decode replicas and no mixed ones, a decode router and a transfer model.
  Cluster(std::vector<ClusterReplica> replicas, std::unique_ptr<Router> router,
          std::unique_ptr<Router> decode_router = nullptr,
          std::unique_ptr<KvTransferModel> transfers = nullptr);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  bool disaggregated() const;
  size_t num_replicas() const;
  const Engine& engine(size_t replica) const;

  // Routes and runs `requests` (sorted by arrival, distinct ids) to the end. The result holds
  // every request (in `requests` order, each with its replica), every replica's steps (each
  // with its replica, in start order), the cluster's summary over all of them (capacity: the
  // replicas' total), and each replica's own (RunResult::replicas). `progress` (may be empty)
  // is called every few hundred steps.
  RunResult run(const std::vector<RequestSpec>& requests,
                const std::function<void(const ClusterProgress&)>& progress = {});

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace kvlab
