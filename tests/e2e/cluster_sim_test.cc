// Clusters in the simulator (core/cluster.h): one replica is a lone engine, N replicas at N
// times the rate behave each like one at 1x, the routers route as they say, disaggregated
// prefill and decode move the KV and account for it, and bad cluster configs are refused.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>

#include "app/experiment_runner.h"
#include "app/resolve_experiment.h"
#include "core/config.h"
#include "core/engine.h"
#include "core/errors.h"
#include "tests/run_test_util.h"
#include "sim/fleet.h"

namespace kvlab {
namespace {

using e2e::run_one;

// Synthetic requests at a Poisson `rate`, llama-2-7b on an A100-80GB.
std::string workload(double rate, int requests, uint64_t seed) {
  return "[workload]\narrival = poisson\nrate = " + std::to_string(rate) +
         "\nnum_requests = " + std::to_string(requests) + "\nseed = " + std::to_string(seed) +
         "\nprompt_len = uniform:64:1024\noutput_len = uniform:16:256\n"
         "[model]\nname = llama-2-7b\n[hardware]\nname = a100-80gb\n";
}

RunResult run_text(const std::string& text) { return run_one(Config::parse(text, "c.ini")); }

std::string error_of(const std::string& text) {
  try {
    prepare_experiment(Config::parse(text, "c.ini"), Shard{});
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Cluster, OneReplicaUnderEveryRouterIsTheLoneEngine) {
  const std::string base = workload(6.0, 300, 3) + "[memory]\ncapacity_slots = 6000\n";
  Config c = Config::parse(base, "c.ini");
  const ExperimentConfig resolved = resolve_experiment(c);
  auto engine = make_engine(resolved);
  const PreparedPoint point = prepare_experiment(c, Shard{}).front();
  const RunResult lone = engine->run(point.workload->requests);
  ASSERT_GT(lone.summary.get("num_preemptions"), 0);  // the run is not trivial
  for (const char* router :
       {"round_robin", "least_outstanding", "least_kv", "power_of_two", "prefix_affinity"}) {
    const RunResult r = run_text(base + "[cluster]\nrouter = " + router + "\n");
    ASSERT_EQ(r.requests.size(), lone.requests.size());
    for (const auto& [name, value] : lone.summary.values) {
      if (name == "wall_s") continue;
      const double got = r.summary.get(name);
      EXPECT_TRUE(got == value || (std::isnan(got) && std::isnan(value)))
          << router << ": " << name << " " << got << " vs " << value;
    }
    EXPECT_EQ(r.steps.size(), lone.steps.size());
    ASSERT_EQ(r.replicas.size(), 1u);
    EXPECT_EQ(r.replicas[0].requests, 300);
  }
}

// Seeds 1..3; each replica of 4 at 4x the rate against one engine at 1x (1,000 requests a
// replica): throughput within 10%, mean end-to-end latency within 15% (each replica serves other
// requests than the lone engine: their lengths differ by sampling). TTFT within 25%: round robin
// deals a Poisson stream out in turn, so each replica sees Erlang-4 gaps, smoother than the
// lone engine's Poisson arrivals, and fewer prompts collide (measured: TTFT p50 16% lower at
// 4x on all three seeds, throughput and latency within 4%).
TEST(Cluster, IdenticalReplicasAtNTimesTheRateEachBehaveLikeOne) {
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    const RunResult one = run_text(workload(8.0, 1000, seed));
    const RunResult four =
        run_text(workload(32.0, 4000, seed) + "[cluster]\nreplicas = 4\nrouter = round_robin\n");
    ASSERT_EQ(four.replicas.size(), 4u);
    EXPECT_EQ(four.summary.get("num_finished"), 4000);
    for (const ReplicaResult& r : four.replicas) {
      EXPECT_EQ(r.requests, 1000);
      const auto near = [&](const char* name, double tolerance) {
        const double want = one.summary.get(name), got = r.summary.get(name);
        EXPECT_NEAR(got / want, 1.0, tolerance)
            << "seed " << seed << " replica " << r.index << " " << name << ": " << got
            << " vs " << want;
      };
      near("throughput_tok_s", 0.10);
      near("e2el_mean_s", 0.15);
      near("ttft_p50_s", 0.25);
    }
    // The cluster's throughput is the four replicas' together.
    EXPECT_NEAR(four.summary.get("throughput_tok_s") / one.summary.get("throughput_tok_s"), 4.0,
                0.4);
  }
}

TEST(Cluster, RunsAreDeterministicAndEveryRequestIsAccountedFor) {
  const std::string text =
      workload(40.0, 600, 9) + "[cluster]\nreplicas = 3\nrouter = power_of_two\n";
  const RunResult a = run_text(text), b = run_text(text);
  ASSERT_EQ(a.requests.size(), 600u);
  std::set<int32_t> used;
  for (size_t i = 0; i < a.requests.size(); ++i) {
    EXPECT_EQ(a.requests[i].replica, b.requests[i].replica);
    EXPECT_EQ(a.requests[i].finish_s, b.requests[i].finish_s);
    EXPECT_EQ(a.requests[i].id, static_cast<int64_t>(i));
    used.insert(a.requests[i].replica);
  }
  EXPECT_EQ(used.size(), 3u);
  int64_t routed = 0;
  for (const ReplicaResult& r : a.replicas) routed += r.requests;
  EXPECT_EQ(routed, 600);
  // Steps carry their replica, in start order.
  for (size_t i = 1; i < a.steps.size(); ++i) EXPECT_LE(a.steps[i - 1].time_s, a.steps[i].time_s);
}

TEST(Cluster, LoadAwareRoutersBalanceUnevenRequests) {
  // Long and short requests alternate: round robin sends every long one to replica 0 of 2.
  const std::string base =
      "[workload]\narrival = poisson\nrate = 30\nnum_requests = 400\nseed = 4\n"
      "prompt_len = 256\noutput_len = uniform:8:512\n[model]\nname = llama-2-7b\n"
      "[hardware]\nname = a100-80gb\n[cluster]\nreplicas = 4\n";
  const RunResult rr = run_text(base + "router = round_robin\n");
  const RunResult lo = run_text(base + "router = least_outstanding\n");
  const RunResult kv = run_text(base + "router = least_kv\n");
  EXPECT_LT(lo.summary.get("e2el_p99_s"), rr.summary.get("e2el_p99_s") * 1.05);
  EXPECT_LT(kv.summary.get("e2el_p99_s"), rr.summary.get("e2el_p99_s") * 1.05);
  for (const RunResult* r : {&rr, &lo, &kv}) EXPECT_EQ(r->summary.get("num_finished"), 400);
}

TEST(Cluster, PrefixAffinityKeepsSharedPrefixesWhereTheyAreCached) {
  // Ten system prompts of 1,024 tokens (request i uses prompt i % 10) over 4 replicas of 8,000
  // slots: affinity finds them cached far more often than round robin, which deals each prompt
  // to every replica in turn (with 8 or 16 prompts it would keep each on one replica).
  const std::string base =
      "[workload]\narrival = poisson\nrate = 20\nnum_requests = 800\nseed = 2\n"
      "prompt_len = uniform:1100:1400\noutput_len = 64\nshared_prefix_len = 1024\n"
      "shared_prefix_groups = 10\n[model]\nname = llama-2-7b\n[hardware]\nname = a100-80gb\n"
      "[memory]\nprefix_caching = true\ncapacity_slots = 8000\n[cluster]\nreplicas = 4\n";
  const RunResult rr = run_text(base + "router = round_robin\n");
  const RunResult affinity = run_text(base + "router = prefix_affinity\n");
  const double rr_hits = rr.summary.get("prefix_hit_rate");
  const double affinity_hits = affinity.summary.get("prefix_hit_rate");
  EXPECT_GT(affinity_hits, rr_hits);
  EXPECT_GT(affinity_hits, 0.5);
}

TEST(Cluster, DisaggregatedPrefillAndDecodeMoveTheKvAndCountIt) {
  const std::string text =
      workload(4.0, 200, 5) +
      "[replica.prefill]\nrole = prefill\ncount = 1\n[replica.decode]\nrole = decode\ncount = 2\n"
      "[hardware]\n";  // an empty section after the groups is harmless
  const RunResult r = run_text(text);
  ASSERT_EQ(r.replicas.size(), 3u);
  EXPECT_EQ(r.replicas[0].role, "prefill");
  EXPECT_EQ(r.replicas[1].role, "decode");
  EXPECT_EQ(r.summary.get("num_finished"), 200);
  int64_t generated = 0;
  for (const RequestRecord& q : r.requests) {
    EXPECT_EQ(q.prefill_replica, 0);
    generated += q.generated_tokens;
    EXPECT_EQ(q.generated_tokens, q.output_len);
    if (q.output_len > 1) {
      EXPECT_GE(q.replica, 1);
      EXPECT_GT(q.kv_transfer_s, 0.0);
      EXPECT_EQ(static_cast<int32_t>(q.itl_s.size()), q.output_len - 1);
    }
    EXPECT_GT(q.finish_s, q.first_token_s);
  }
  EXPECT_EQ(r.summary.get("generated_tokens"), generated);
  // Two decode replicas each received requests; the prefill replica generated one token each.
  EXPECT_GT(r.replicas[1].requests, 0);
  EXPECT_GT(r.replicas[2].requests, 0);
  EXPECT_EQ(r.replicas[0].summary.get("generated_tokens"), 200);
}

TEST(Cluster, KvTransferTimeIsBytesOverTheLinkPlusLatency) {
  // Same node (NVSwitch): one request's 1,000 prompt tokens of llama-2-7b (512 KiB a token in
  // fp16) over NVLink; on two nodes (replicas of 8 GPUs each) over the 400 Gb/s NICs.
  Config c = Config::parse(
      "[model]\nname = llama-2-7b\n[hardware]\nname = h100-sxm-80gb\n[workload]\nnum_requests = 1\n",
      "c.ini");
  const ExperimentConfig one_gpu = resolve_experiment(c);
  c.set("model.tensor_parallel", "8");
  const ExperimentConfig eight_gpus = resolve_experiment(c);
  const int64_t bytes = 1000 * one_gpu.model.kv_bytes_per_slot();
  {
    Fleet fleet({&one_gpu, &one_gpu});
    EXPECT_EQ(fleet.num_nodes(), 1);
    const double t = fleet.transfer(1.0, bytes, 0, 1) - 1.0;
    const double want = bytes / (one_gpu.hardware.nvlink_gb_s * 1e9);
    EXPECT_NEAR(t, want, want * 0.01 + 2e-6);
    // A second transfer over the same links waits for the first.
    const double t2 = fleet.transfer(1.0, bytes, 0, 1) - 1.0;
    EXPECT_NEAR(t2, 2 * t, 1e-9);
  }
  {
    Fleet fleet({&eight_gpus, &eight_gpus});
    EXPECT_EQ(fleet.num_nodes(), 2);
    const double t = fleet.transfer(0.0, bytes, 0, 1);
    const double want = (bytes / 8) / (eight_gpus.hardware.network_gb_s * 1e9) +
                        eight_gpus.hardware.network_latency_us * 1e-6;
    EXPECT_NEAR(t, want, 1e-9);
  }
}

TEST(Cluster, HeterogeneousFleetsRunEachReplicaOnItsOwnHardware) {
  const RunResult r = run_text(workload(12.0, 300, 6) +
                               "[cluster]\nrouter = least_outstanding\n"
                               "[replica.big]\ncount = 1\nhardware.name = h100-sxm-80gb\n"
                               "[replica.small]\ncount = 2\nhardware.name = a100-40gb\n");
  ASSERT_EQ(r.replicas.size(), 3u);
  EXPECT_EQ(r.replicas[0].hardware, "h100-sxm-80gb");
  EXPECT_EQ(r.replicas[0].name, "big");
  EXPECT_EQ(r.replicas[2].hardware, "a100-40gb");
  EXPECT_GT(r.replicas[0].capacity_slots, r.replicas[1].capacity_slots);
  // The faster replica finishes its requests sooner, so least outstanding gives it more.
  EXPECT_GT(r.replicas[0].requests, r.replicas[1].requests);
  EXPECT_EQ(r.config.at("replica.big.hardware.name"), "h100-sxm-80gb");
  // The cluster's KV cache in GiB is its replicas' (each per GPU), summed.
  double gib = 0;
  for (const ReplicaResult& x : r.replicas) gib += x.summary.get("kv_capacity_gib");
  EXPECT_DOUBLE_EQ(r.summary.get("kv_capacity_gib"), gib);
  EXPECT_GT(r.replicas[0].summary.get("kv_capacity_gib"), r.replicas[1].summary.get("kv_capacity_gib"));
}

TEST(Cluster, ReplicaGroupKeysCanBeSetAndSwept) {
  // Co-located against disaggregated in one sweep: the groups' roles swept together.
  Config c = Config::parse(workload(4.0, 60, 8) +
                               "[replica.a]\ncount = 2\n[replica.b]\ncount = 2\n"
                               "[sweep]\nreplica.a.role + replica.b.role = mixed:mixed "
                               "\"co-located\", prefill:decode \"disaggregated\"\n",
                           "c.ini");
  const std::vector<RunResult> points = run_experiment(c, RunOptions{});
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[0].replicas[2].role, "mixed");
  EXPECT_EQ(points[1].replicas[2].role, "decode");
  EXPECT_EQ(points[1].display_label(), "disaggregated");
  for (const RunResult& r : points) EXPECT_EQ(r.summary.get("num_finished"), 60);
  // --set replaces a group's key, or makes the group.
  c.clear_sweep();
  c.set_override("replica.b.hardware.name=h100-sxm-80gb");
  c.set_override("replica.c.count=3");
  const RunResult r = run_one(c);
  ASSERT_EQ(r.replicas.size(), 7u);
  EXPECT_EQ(r.replicas[2].hardware, "h100-sxm-80gb");
  EXPECT_EQ(r.replicas[6].name, "c");
  Config bad = c;
  EXPECT_THROW(bad.set_override("replica.b.hardware.name=h9000"), InputError);
  EXPECT_THROW(bad.set_override("replica.b.workload.rate=2"), InputError);
}

TEST(Cluster, BadClusterConfigsAreRefusedNamingTheKey) {
  const std::string base = workload(4.0, 10, 1);
  EXPECT_NE(error_of(base + "[cluster]\nreplicas = 3\n[replica.a]\ncount = 2\n")
                .find("field 'cluster.replicas'"),
            std::string::npos);
  EXPECT_NE(error_of(base + "[replica.a]\nrole = prefill\n").find("replica.a.role"),
            std::string::npos);
  EXPECT_NE(error_of(base + "[replica.a]\nrole = prefill\n[replica.b]\nrole = mixed\n")
                .find("prefill and decode replicas only"),
            std::string::npos);
  EXPECT_NE(error_of(base + "[replica.a]\nworkload.rate = 3\n").find("replica.a.workload.rate"),
            std::string::npos);
  EXPECT_NE(error_of(base + "[replica.a]\nhardware.nme = h100-sxm-80gb\n").find("hardware.name"),
            std::string::npos);
  EXPECT_NE(error_of(base + "[replica.a]\ncount = 0\n").find("replica.a.count"),
            std::string::npos);
  EXPECT_NE(error_of(base + "[cluster]\nrouter = roundrobin\n").find("round_robin"),
            std::string::npos);
  EXPECT_NE(error_of("[workload]\nnum_requests = 4\n[model]\nname = tiny-llama\n"
                     "[memory]\ncapacity_slots = 4096\n[backend]\nkind = cpu\n[cluster]\nreplicas = 2\n")
                .find("backend.kind"),
            std::string::npos);
  EXPECT_NE(error_of(base + "n = 2\n[replica.p]\nrole = prefill\n[replica.d]\nrole = decode\n")
                .find("workload.n"),
            std::string::npos);
}

}  // namespace
}  // namespace kvlab
