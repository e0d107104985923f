// Validation of the topology's communication terms against hand-computed values: ring
// all-reduce on NVSwitch and PCIe, peer-to-peer within a node (NVSwitch, PCIe staged through the
// host) and between nodes over the network (NIC per GPU, non-blocking fabric), contention on
// shared links, heterogeneous nodes, and the errors.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/errors.h"
#include "core/model_spec.h"
#include "sim/topology.h"
#include "tests/sim/sim_test_config.h"

namespace kvlab {
namespace {

using testing::input_error;
using testing::hw;
using testing::kinds;

HardwareSpec node_of(const std::string& name, int32_t gpus, const std::string& topology) {
  HardwareSpec h = hw(name);
  h.gpus_per_node = gpus;
  h.topology = topology;
  return h;
}

constexpr int64_t kMiB = 1 << 20;

TEST(CommunicationTerms, RingAllReduceOf16MiBOnEightH100OverNvswitch) {
  const NodeTopology node = NodeTopology::build(hw("h100-sxm-80gb"), 8, "nvswitch");
  // Each ring step i -> i+1 crosses GPU i's NVLink up and GPU i+1's down: one flow per link
  // direction, so 450 GB/s each; a step's route is two NVLink hops of 0.5 us.
  // 2 (p-1)/p x bytes / bw + 2 (p-1) x latency = 1.75 x 16 MiB / 450 GB/s + 14 us.
  const double expected = 1.75 * 16777216.0 / 450e9 + 14e-6;
  EXPECT_DOUBLE_EQ(node.allreduce_seconds(16 * kMiB, 8), expected);
  EXPECT_NEAR(node.allreduce_seconds(16 * kMiB, 8), 79.2447e-6, 1e-10);  // 65.24 + 14 us
}

TEST(CommunicationTerms, PeerToPeerOverNvswitchAndThroughTheHostOnPcie) {
  const NodeTopology nvswitch = NodeTopology::build(hw("h100-sxm-80gb"), 8, "nvswitch");
  const int64_t bytes = 64 * kMiB;
  // GPU 0 -> NVSwitch -> GPU 3: 450 GB/s, 2 x 0.5 us.
  EXPECT_DOUBLE_EQ(nvswitch.kv_transfer_seconds(bytes, 0, 3), bytes / 450e9 + 1e-6);
  // PCIe: GPU 0 -> switch 0 -> host -> switch 1 -> GPU 3, 50 GB/s (PCIe 5), 4 x 1 us.
  const NodeTopology pcie = NodeTopology::build(hw("h100-sxm-80gb"), 8, "pcie");
  EXPECT_DOUBLE_EQ(pcie.kv_transfer_seconds(bytes, 0, 3), bytes / 50e9 + 4e-6);
  // GPUs 0 and 1 both send through switch 0's uplink at once: each gets half of it.
  EXPECT_DOUBLE_EQ(pcie.kv_transfer_seconds(bytes, 0, 3, {{1, 4}}), bytes / 25e9 + 4e-6);
  // Opposite directions do not share: GPU 3 -> GPU 0 alongside 0 -> 3.
  EXPECT_DOUBLE_EQ(pcie.kv_transfer_seconds(bytes, 0, 3, {{3, 0}}), bytes / 50e9 + 4e-6);
  EXPECT_EQ(pcie.kv_transfer_seconds(bytes, 2, 2), 0.0);
  EXPECT_EQ(pcie.kv_transfer_seconds(0, 0, 3), 0.0);
}

TEST(CommunicationTerms, TwoNodeShapeAddsANicPerGpuAndOneFabric) {
  const NodeTopology two = NodeTopology::build_cluster(
      {node_of("h100-sxm-80gb", 8, "nvswitch"), node_of("h100-sxm-80gb", 8, "nvswitch")});
  EXPECT_EQ(two.num_nodes(), 2);
  EXPECT_EQ(two.num_gpus(), 16);
  EXPECT_EQ(two.first_gpu(1), 8);
  EXPECT_EQ(two.gpus_on_node(1), 8);
  EXPECT_EQ(two.node_of(7), 0);
  EXPECT_EQ(two.node_of(8), 1);
  // Per node 8 GPUs, 4 PCIe switches, the host, the NVSwitch, 8 NICs; and the fabric.
  EXPECT_EQ(boost::num_vertices(two.graph()), 2u * 22u + 1u);
  // Per node 8 GPU links, 4 uplinks, 8 NVLinks, 8 NIC slots, 8 NIC ports.
  EXPECT_EQ(boost::num_edges(two.graph()), 2u * 36u);
  EXPECT_EQ(two.graph()[two.gpu(9)].node, 1);
  EXPECT_EQ(two.graph()[two.gpu(9)].index, 1);
  EXPECT_NE(two.host(0), two.host(1));
  // Within a node nothing changed: NVLink, and the host path of a node-1 GPU stays on node 1.
  EXPECT_DOUBLE_EQ(two.gpu_path(8, 13).bottleneck_gb_s, 450.0);
  EXPECT_EQ(two.host_path(13).vertices.back(), two.host(1));
  // One node built as a cluster is build()'s graph exactly.
  const NodeTopology one = NodeTopology::build_cluster({node_of("h100-sxm-80gb", 8, "nvswitch")});
  EXPECT_EQ(boost::num_vertices(one.graph()), 14u);
  EXPECT_EQ(boost::num_edges(one.graph()), 20u);
}

TEST(CommunicationTerms, InterNodeRouteGoesGpuSwitchNicFabricNicSwitchGpu) {
  const NodeTopology two = NodeTopology::build_cluster(
      {node_of("h100-sxm-80gb", 8, "nvswitch"), node_of("h100-sxm-80gb", 8, "nvswitch")});
  const NodePath p = two.gpu_path(3, 11);
  using K = NodeVertexKind;
  EXPECT_EQ(kinds(two, p), (std::vector<K>{K::kGpu, K::kPcieSwitch, K::kNic, K::kFabric, K::kNic,
                                           K::kPcieSwitch, K::kGpu}));
  EXPECT_EQ(two.graph()[p.vertices[2]].index, 3);  // GPU 3's own NIC (rail 3)
  EXPECT_EQ(two.graph()[p.vertices[4]].node, 1);
  // NDR 400 Gb/s = 50 GB/s, like the PCIe 5 slots; 4 PCIe hops of 1 us + 1 us NIC to NIC.
  EXPECT_DOUBLE_EQ(p.bottleneck_gb_s, 50.0);
  EXPECT_DOUBLE_EQ(p.latency_us, 5.0);
  const int64_t bytes = 256 * kMiB;
  EXPECT_DOUBLE_EQ(two.kv_transfer_seconds(bytes, 3, 11), bytes / 50e9 + 5e-6);
  // 8 ranks of a stage send to their peers at once: every rail is its own, no sharing.
  std::vector<GpuTransfer> others;
  for (int32_t r = 1; r < 8; ++r) others.push_back({r, 8 + r});
  EXPECT_DOUBLE_EQ(two.kv_transfer_seconds(bytes, 0, 8, others), bytes / 50e9 + 5e-6);
  // Two transfers out of GPU 0 share its PCIe link, NIC slot and NIC port: 25 GB/s each.
  EXPECT_DOUBLE_EQ(two.kv_transfer_seconds(bytes, 0, 8, {{0, 9}}), bytes / 25e9 + 5e-6);
  const std::vector<TransferRate> rates = two.transfer_rates({{0, 8}, {0, 9}, {1, 10}});
  EXPECT_DOUBLE_EQ(rates[0].gb_s, 25.0);
  EXPECT_DOUBLE_EQ(rates[1].gb_s, 25.0);
  EXPECT_DOUBLE_EQ(rates[2].gb_s, 50.0);
  // The network is far slower than NVLink: a node-crossing hop costs 9x the in-node one.
  EXPECT_GT(two.kv_transfer_seconds(bytes, 0, 8), 8.9 * two.kv_transfer_seconds(bytes, 0, 1));
}

TEST(CommunicationTerms, HeterogeneousNodesTakeEachSidesLinks) {
  // A prefill node of H100s (50 GB/s NICs) and a decode node of A100s (HDR, 25 GB/s).
  const NodeTopology fleet = NodeTopology::build_cluster(
      {node_of("h100-sxm-80gb", 8, "nvswitch"), node_of("a100-80gb", 8, "nvswitch")});
  const int64_t bytes = 100 * kMiB;
  EXPECT_DOUBLE_EQ(fleet.kv_transfer_seconds(bytes, 2, 8 + 2), bytes / 25e9 + 5e-6);
  // A single-GPU Ethernet node (a10g: 25 Gb/s, 15 us assumed) to another.
  const NodeTopology g5 =
      NodeTopology::build_cluster({node_of("a10g", 1, "pcie"), node_of("a10g", 1, "pcie")});
  EXPECT_DOUBLE_EQ(g5.kv_transfer_seconds(bytes, 0, 1), bytes / 3.125e9 + 19e-6);
}

TEST(CommunicationTerms, RingAllReduceOfAStageAndAcrossNodes) {
  const NodeTopology two = NodeTopology::build_cluster(
      {node_of("h100-sxm-80gb", 8, "nvswitch"), node_of("h100-sxm-80gb", 8, "nvswitch")});
  // A TP group of node 1 is priced like the same group on node 0.
  EXPECT_EQ(two.ring_allreduce({8, 9, 10, 11}).bottleneck_gb_s,
            two.ring_allreduce({0, 1, 2, 3}).bottleneck_gb_s);
  EXPECT_DOUBLE_EQ(two.ring_allreduce({8, 9, 10, 11}).step_latency_us, 1.0);
  // One ring over both nodes crosses the network twice (3 -> 8 and 11 -> 0): one NIC's
  // 50 GB/s and 5 us bound every step.
  const RingAllReduce across = two.ring_allreduce({0, 1, 2, 3, 8, 9, 10, 11});
  EXPECT_DOUBLE_EQ(across.bottleneck_gb_s, 50.0);
  EXPECT_DOUBLE_EQ(across.step_latency_us, 5.0);
  EXPECT_DOUBLE_EQ(across.seconds(16 * kMiB), 1.75 * 16777216.0 / 50e9 + 14 * 5e-6);
}

TEST(CommunicationTerms, SwapsOnTwoNodesUseTheirOwnHosts) {
  const NodeTopology two = NodeTopology::build_cluster(
      {node_of("a100-80gb", 2, "nvswitch"), node_of("a100-80gb", 2, "nvswitch")});
  // GPUs 0, 1 share node 0's switch uplink; 2, 3 node 1's: half of 25 GB/s each, not a quarter.
  EXPECT_DOUBLE_EQ(two.host_transfer_rate(3, 4).gb_s, 12.5);
  EXPECT_EQ(two.host_path(3).vertices.back(), two.host(1));
}

TEST(CommunicationTerms, ErrorsNameTheirKey) {
  HardwareSpec no_network = node_of("h100-sxm-80gb", 8, "nvswitch");
  no_network.network_gb_s = 0;
  std::string message = input_error([&] { NodeTopology::build_cluster({no_network, no_network}); });
  EXPECT_NE(message.find("field 'hardware.network_gb_s'"), std::string::npos) << message;
  // One node needs no network.
  EXPECT_NO_THROW(NodeTopology::build_cluster({no_network}));
  HardwareSpec negative = node_of("h100-sxm-80gb", 8, "nvswitch");
  negative.network_latency_us = -2;
  message = input_error([&] { NodeTopology::build_cluster({negative, negative}); });
  EXPECT_NE(message.find("field 'hardware.network_latency_us'"), std::string::npos) << message;
}

TEST(PipelineParallel, ValidationNamesTheKey) {
  const ModelSpec& llama7 = model_catalog().get("llama-2-7b");  // 32 layers
  EXPECT_NO_THROW(validate_pipeline_parallel(llama7, 1, 32, 8));
  EXPECT_NO_THROW(validate_pipeline_parallel(llama7, 8, 4, 8));  // 4 nodes, one stage each
  std::string message = input_error([&] { validate_pipeline_parallel(llama7, 1, 33, 8); });
  EXPECT_NE(message.find("field 'model.pipeline_parallel': 33 stages exceed llama-2-7b's 32 "
                         "layers"),
            std::string::npos)
      << message;
  message = input_error([&] { validate_pipeline_parallel(llama7, 1, 0, 8); });
  EXPECT_NE(message.find("field 'model.pipeline_parallel': must be >= 1, got 0"), std::string::npos)
      << message;
  // 4 x 2 GPUs on nodes of 6: stage 1 would take GPUs 4..7, two on each node.
  message = input_error([&] { validate_pipeline_parallel(llama7, 4, 2, 6); });
  EXPECT_NE(message.find("model.pipeline_parallel"), std::string::npos) << message;
  EXPECT_NE(message.find("straddle"), std::string::npos) << message;
  EXPECT_NO_THROW(validate_pipeline_parallel(llama7, 4, 1, 6));  // fits one node
  EXPECT_EQ(nodes_for_replica(8, 2, 8), 2);
  EXPECT_EQ(nodes_for_replica(2, 3, 8), 1);
  EXPECT_EQ(nodes_for_replica(1, 3, 1), 3);
}

TEST(PipelineParallel, ForExperimentSpansNodes) {
  ExperimentConfig config = testing::sim_config("llama-2-70b", "h100-sxm-80gb", 8);
  config.pipeline_parallel = 2;
  const NodeTopology t = NodeTopology::for_experiment(config);
  EXPECT_EQ(t.num_nodes(), 2);
  EXPECT_EQ(t.num_gpus(), 16);
  config.pipeline_parallel = 1;
  EXPECT_EQ(NodeTopology::for_experiment(config).num_nodes(), 1);
  config.tensor_parallel = 2;
  config.pipeline_parallel = 4;  // 8 GPUs: one node
  EXPECT_EQ(NodeTopology::for_experiment(config).num_nodes(), 1);
}

}  // namespace
}  // namespace kvlab
