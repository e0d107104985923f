// NodeTopology: the graph's shape for nvswitch and pcie nodes, the routes between GPUs and to
// the host, shared-link bandwidth under concurrent swaps, ring all-reduce, and the errors.
#include "sim/topology.h"

#include <gtest/gtest.h>

#include <string>

#include "core/config.h"
#include "core/errors.h"
#include "core/model_spec.h"
#include "tests/sim/sim_test_config.h"

namespace kvlab {
namespace {

using testing::input_error;
using testing::hw;
using testing::kinds;

TEST(NodeTopology, NvswitchNodeShape) {
  const NodeTopology node = NodeTopology::build(hw("a100-80gb"), 8, "nvswitch");
  EXPECT_EQ(node.num_gpus(), 8);
  // 8 GPUs, 4 PCIe switches, the host, the NVSwitch.
  EXPECT_EQ(boost::num_vertices(node.graph()), 14u);
  // 8 GPU-switch links, 4 uplinks, 8 NVLinks.
  EXPECT_EQ(boost::num_edges(node.graph()), 20u);
  EXPECT_EQ(node.graph()[node.host()].kind, NodeVertexKind::kHost);
  for (int32_t i = 0; i < 8; ++i) {
    EXPECT_EQ(node.graph()[node.gpu(i)].kind, NodeVertexKind::kGpu);
    EXPECT_EQ(node.graph()[node.gpu(i)].index, i);
  }
}

TEST(NodeTopology, PcieNodeHasNoNvswitch) {
  const NodeTopology node = NodeTopology::build(hw("a10g"), 4, "pcie");
  EXPECT_EQ(boost::num_vertices(node.graph()), 4u + 2u + 1u);
  EXPECT_EQ(boost::num_edges(node.graph()), 4u + 2u);
  for (NodeVertexId v = 0; v < boost::num_vertices(node.graph()); ++v) {
    EXPECT_NE(node.graph()[v].kind, NodeVertexKind::kNvSwitch);
  }
}

TEST(NodeTopology, NvswitchPeersTalkOverNvlink) {
  const NodeTopology node = NodeTopology::build(hw("h100-sxm-80gb"), 8, "nvswitch");
  const NodePath& p = node.gpu_path(0, 5);
  EXPECT_EQ(kinds(node, p),
            (std::vector<NodeVertexKind>{NodeVertexKind::kGpu, NodeVertexKind::kNvSwitch,
                                         NodeVertexKind::kGpu}));
  EXPECT_EQ(p.vertices.front(), node.gpu(0));
  EXPECT_EQ(p.vertices.back(), node.gpu(5));
  EXPECT_EQ(p.hops.size(), 2u);
  EXPECT_DOUBLE_EQ(p.bottleneck_gb_s, 450.0);
  EXPECT_DOUBLE_EQ(p.latency_us, 2 * NodeTopology::kNvlinkHopLatencyUs);
  // Even two GPUs under one PCIe switch prefer NVLink: it is the lower-latency route.
  EXPECT_EQ(node.gpu_path(0, 1).bottleneck_gb_s, 450.0);
}

TEST(NodeTopology, PciePeersTalkThroughTheHost) {
  const NodeTopology node = NodeTopology::build(hw("a10g"), 4, "pcie");
  const NodePath& same_switch = node.gpu_path(0, 1);
  EXPECT_EQ(kinds(node, same_switch),
            (std::vector<NodeVertexKind>{NodeVertexKind::kGpu, NodeVertexKind::kPcieSwitch,
                                         NodeVertexKind::kHost, NodeVertexKind::kPcieSwitch,
                                         NodeVertexKind::kGpu}));
  EXPECT_DOUBLE_EQ(same_switch.bottleneck_gb_s, 25.0);
  EXPECT_DOUBLE_EQ(same_switch.latency_us, 4 * NodeTopology::kPcieHopLatencyUs);
  const NodePath& across = node.gpu_path(1, 2);
  EXPECT_EQ(node.graph()[across.vertices[1]].index, 0);  // GPU 1's switch
  EXPECT_EQ(node.graph()[across.vertices[3]].index, 1);  // GPU 2's switch
  // The raw graph query finds the shortest route, which within a switch skips the host.
  EXPECT_EQ(node.path(node.gpu(0), node.gpu(1)).hops.size(), 2u);
}

TEST(NodeTopology, HostPathCrossesOwnLinkAndSwitchUplink) {
  for (const char* topology : {"nvswitch", "pcie"}) {
    SCOPED_TRACE(topology);
    const NodeTopology node = NodeTopology::build(hw("a100-80gb"), 8, topology);
    const NodePath& p = node.host_path(5);
    EXPECT_EQ(kinds(node, p),
              (std::vector<NodeVertexKind>{NodeVertexKind::kGpu, NodeVertexKind::kPcieSwitch,
                                           NodeVertexKind::kHost}));
    EXPECT_EQ(node.graph()[p.vertices[1]].index, 2);  // GPUs 4 and 5 share switch 2
    EXPECT_DOUBLE_EQ(p.bottleneck_gb_s, 25.0);
    EXPECT_DOUBLE_EQ(p.latency_us, 2 * NodeTopology::kPcieHopLatencyUs);
    const NodePath q = node.path(node.gpu(5), node.host());
    EXPECT_EQ(q.vertices, p.vertices);
  }
}

TEST(NodeTopology, SwapAloneUsesTheFullHostLink) {
  const NodeTopology node = NodeTopology::build(hw("a100-80gb"), 8, "nvswitch");
  const int64_t bytes = 1'000'000'000;
  EXPECT_DOUBLE_EQ(node.host_transfer_seconds(0, bytes, 1), 1e9 / 25e9 + 2e-6);
  EXPECT_EQ(node.host_transfer_seconds(0, 0, 1), 0.0);
}

TEST(NodeTopology, SharedUplinkSlowsConcurrentSwaps) {
  for (const char* topology : {"nvswitch", "pcie"}) {
    SCOPED_TRACE(topology);
    const NodeTopology node = NodeTopology::build(hw("h100-sxm-80gb"), 8, topology);
    const int64_t bytes = 500'000'000;
    const double alone = node.host_transfer_seconds(3, bytes, 4);
    // GPUs 2 and 3 share switch 1's uplink: each gets half of PCIe 5's 50 GB/s.
    EXPECT_DOUBLE_EQ(alone, bytes / 25e9 + 2e-6);
    const double all_eight = node.parallel_host_transfer_seconds(bytes, 8);
    EXPECT_DOUBLE_EQ(all_eight, bytes / 25e9 + 2e-6);
    const double one = node.parallel_host_transfer_seconds(bytes, 1);
    EXPECT_DOUBLE_EQ(one, bytes / 50e9 + 2e-6);
    EXPECT_GT(all_eight, 1.9 * (one - 2e-6));
  }
}

TEST(NodeTopology, SharedBandwidthsSplitEachDirectionSeparately) {
  const NodeTopology node = NodeTopology::build(hw("a100-80gb"), 2, "pcie");
  // GPU 0 -> host and host -> GPU 1 cross switch 0's uplink in opposite directions: no sharing.
  NodePath down = node.host_path(1);
  std::reverse(down.vertices.begin(), down.vertices.end());
  std::reverse(down.hops.begin(), down.hops.end());
  for (NodeHop& hop : down.hops) std::swap(hop.from, hop.to);
  EXPECT_EQ(node.shared_bandwidths_gb_s({node.host_path(0), down}),
            (std::vector<double>{25.0, 25.0}));
  EXPECT_EQ(node.shared_bandwidths_gb_s({node.host_path(0), node.host_path(1)}),
            (std::vector<double>{12.5, 12.5}));
}

TEST(NodeTopology, RingAllReduceOverNvswitch) {
  const NodeTopology node = NodeTopology::build(hw("a100-80gb"), 8, "nvswitch");
  const int64_t bytes = 64 << 20;
  EXPECT_DOUBLE_EQ(node.ring_allreduce(8).bottleneck_gb_s, 300.0);
  EXPECT_DOUBLE_EQ(node.ring_allreduce(8).step_latency_us, 1.0);
  EXPECT_DOUBLE_EQ(node.allreduce_seconds(bytes, 8), 2.0 * 7 / 8 * bytes / 300e9 + 2.0 * 7 * 1e-6);
  EXPECT_DOUBLE_EQ(node.allreduce_seconds(bytes, 2), 2.0 * 1 / 2 * bytes / 300e9 + 2.0 * 1e-6);
  EXPECT_EQ(node.allreduce_seconds(bytes, 1), 0.0);
  EXPECT_EQ(node.allreduce_seconds(0, 8), 0.0);
}

TEST(NodeTopology, RingAllReduceOverPcieSharesUplinks) {
  const NodeTopology node = NodeTopology::build(hw("a100-80gb"), 4, "pcie");
  // Every ring step goes up to the host and back down; each switch uplink carries two of the
  // four flows in each direction.
  EXPECT_DOUBLE_EQ(node.ring_allreduce(4).bottleneck_gb_s, 12.5);
  EXPECT_DOUBLE_EQ(node.ring_allreduce(4).step_latency_us, 4.0);
  const int64_t bytes = 8 << 20;
  EXPECT_DOUBLE_EQ(node.allreduce_seconds(bytes, 4), 2.0 * 3 / 4 * bytes / 12.5e9 + 2.0 * 3 * 4e-6);
  const NodeTopology nvswitch = NodeTopology::build(hw("a100-80gb"), 4, "nvswitch");
  EXPECT_GT(node.allreduce_seconds(bytes, 4), 20 * nvswitch.allreduce_seconds(bytes, 4));
}

TEST(NodeTopology, BuildIsDeterministic) {
  const NodeTopology a = NodeTopology::build(hw("h200"), 8, "nvswitch");
  const NodeTopology b = NodeTopology::build(hw("h200"), 8, "nvswitch");
  for (int32_t i = 0; i < 8; ++i) {
    for (int32_t j = 0; j < 8; ++j) EXPECT_EQ(a.gpu_path(i, j).vertices, b.gpu_path(i, j).vertices);
  }
  EXPECT_EQ(a.allreduce_seconds(12345, 8), b.allreduce_seconds(12345, 8));
}

TEST(NodeTopology, ErrorsNameTheField) {
  EXPECT_NE(input_error([] {
              NodeTopology::build(hw("a100-80gb"), 8, "torus");
            }).find("field 'hardware.topology': unknown topology 'torus'"),
            std::string::npos);
  EXPECT_NE(input_error([] {
              NodeTopology::build(hw("a100-80gb"), 0, "nvswitch");
            }).find("field 'hardware.gpus_per_node'"),
            std::string::npos);
  EXPECT_NE(input_error([] {
              NodeTopology::build(hw("a10g"), 4, "nvswitch");
            }).find("field 'hardware.topology': nvswitch needs NVLink"),
            std::string::npos);
}

TEST(NodeTopology, TensorParallelMustFitNodeAndHeads) {
  const ModelSpec& llama70 = model_catalog().get("llama-2-70b");
  const ModelSpec& qwen = model_catalog().get("qwen2-7b");  // 28 heads, 4 KV heads
  EXPECT_NO_THROW(validate_tensor_parallel(llama70, 8, 8));
  EXPECT_NO_THROW(validate_tensor_parallel(qwen, 4, 8));
  std::string message = input_error([&] { validate_tensor_parallel(llama70, 16, 8); });
  EXPECT_NE(message.find("field 'model.tensor_parallel': 16 exceeds the node's 8 GPUs"),
            std::string::npos)
      << message;
  message = input_error([&] { validate_tensor_parallel(qwen, 8, 8); });
  EXPECT_NE(message.find("does not divide qwen2-7b's 28 attention heads"), std::string::npos)
      << message;
  // 7 divides the 28 query heads but not the 4 KV heads.
  message = input_error([&] { validate_tensor_parallel(qwen, 7, 8); });
  EXPECT_NE(message.find("model.tensor_parallel"), std::string::npos) << message;
  EXPECT_NE(message.find("does not divide qwen2-7b's 4 KV heads"), std::string::npos) << message;
  message = input_error([&] { validate_tensor_parallel(model_catalog().get("opt-13b"), 3, 8); });
  EXPECT_NE(message.find("40 attention heads"), std::string::npos) << message;
  EXPECT_NE(
      input_error([&] { validate_tensor_parallel(qwen, 0, 8); }).find("model.tensor_parallel"),
      std::string::npos);
}

TEST(NodeTopology, ForExperimentNamesTheFileAndLine) {
  ExperimentConfig config = testing::sim_config("llama-2-70b", "a100-80gb", 16);
  config.raw = Config::parse("[model]\nname = llama-2-70b\ntensor_parallel = 16\n", "exp.ini");
  const std::string message = input_error([&] { NodeTopology::for_experiment(config); });
  EXPECT_NE(message.find("exp.ini:3: field 'model.tensor_parallel'"), std::string::npos) << message;

  config = testing::sim_config("llama-2-7b", "a100-80gb");
  config.hardware.topology = "ring";
  config.raw = Config::parse("[hardware]\n\ntopology = ring\n", "exp.ini");
  EXPECT_NE(input_error([&] {
              NodeTopology::for_experiment(config);
            }).find("exp.ini:3: field 'hardware.topology'"),
            std::string::npos);
}

}  // namespace
}  // namespace kvlab
