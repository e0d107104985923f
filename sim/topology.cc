#include "sim/topology.h"

#include <algorithm>
#include <boost/graph/dijkstra_shortest_paths.hpp>
#include <boost/property_map/property_map.hpp>
#include <limits>

#include "core/errors.h"
#include "core/suggest.h"
#include "sim/field_error.h"

namespace kvlab {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

[[noreturn]] void fail(const Config* origins, const std::string& key, const std::string& message) {
  fail_field(origins ? *origins : Config{}, key, message);
}

// Index of a link direction in a per-direction load table.
size_t direction_slot(const NodeHop& hop) {
  return static_cast<size_t>(hop.link) * 2 + (hop.from < hop.to ? 0 : 1);
}

NodePath reversed(const NodePath& path) {
  NodePath out = path;
  std::reverse(out.vertices.begin(), out.vertices.end());
  std::reverse(out.hops.begin(), out.hops.end());
  for (NodeHop& hop : out.hops) std::swap(hop.from, hop.to);
  return out;
}

}  // namespace

const char* to_string(NodeVertexKind kind) {
  switch (kind) {
    case NodeVertexKind::kGpu:
      return "gpu";
    case NodeVertexKind::kPcieSwitch:
      return "pcie-switch";
    case NodeVertexKind::kHost:
      return "host";
    case NodeVertexKind::kNvSwitch:
      return "nvswitch";
    case NodeVertexKind::kNic:
      return "nic";
    case NodeVertexKind::kFabric:
      return "fabric";
  }
  return "?";
}

NodeTopology NodeTopology::build(const HardwareSpec& hw, int32_t gpus_per_node,
                                 const std::string& topology, const Config* origins) {
  HardwareSpec node = hw;
  node.gpus_per_node = gpus_per_node;
  node.topology = topology;
  return build_cluster({node}, origins);
}

NodeTopology NodeTopology::build_cluster(const std::vector<HardwareSpec>& nodes,
                                         const Config* origins) {
  check_invariant(!nodes.empty() && nodes.size() <= static_cast<size_t>(kMaxNodes),
                  "a topology needs between 1 and kMaxNodes nodes");
  const bool networked = nodes.size() > 1;
  for (const HardwareSpec& hw : nodes) {
    const std::string& topology = hw.topology;
    if (topology != "nvswitch" && topology != "pcie") {
      fail(origins, "hardware.topology",
           unknown_name_message("topology", topology, {"nvswitch", "pcie"}));
    }
    if (hw.gpus_per_node < 1 || hw.gpus_per_node > kMaxGpusPerNode) {
      fail(origins, "hardware.gpus_per_node",
           "must be between 1 and " + std::to_string(kMaxGpusPerNode) + ", got " +
               std::to_string(hw.gpus_per_node));
    }
    if (topology == "nvswitch" && !(hw.nvlink_gb_s > 0)) {
      fail(origins, "hardware.topology",
           "nvswitch needs NVLink, and hardware '" + hw.name + "' has none (use pcie)");
    }
    if (!(hw.host_link_gb_s > 0)) {
      fail(origins, "hardware.name", "hardware '" + hw.name + "' has no host link bandwidth");
    }
    if (networked && !(hw.network_gb_s > 0)) {
      fail(origins, "hardware.network_gb_s",
           "GPUs on " + std::to_string(nodes.size()) + " nodes need a network, and hardware '" +
               hw.name + "' has none (set hardware.network_gb_s)");
    }
    if (networked && !(hw.network_latency_us >= 0)) {
      fail(origins, "hardware.network_latency_us",
           "must be >= 0, got " + std::to_string(hw.network_latency_us));
    }
  }

  NodeTopology out;
  NodeGraph& g = out.graph_;
  auto add_link = [&](NodeVertexId a, NodeVertexId b, double gb_s, double latency_us) {
    boost::add_edge(a, b, NodeLink{out.num_links_++, gb_s, latency_us}, g);
  };
  // Per node: GPUs, PCIe switches, host, NVSwitch, NICs (the vertex order of one node is the
  // single-node graph's). The NICs' switches and the fabric are remembered for the routes.
  std::vector<NodeVertexId> gpu_switch;  // per GPU
  std::vector<NodeVertexId> gpu_nic;     // per GPU (several nodes only)
  for (size_t k = 0; k < nodes.size(); ++k) {
    const HardwareSpec& hw = nodes[k];
    const auto node_index = static_cast<int32_t>(k);
    Node node;
    node.kind = hw.topology;
    node.first_gpu = static_cast<int32_t>(out.gpus_.size());
    node.num_gpus = hw.gpus_per_node;
    for (int32_t i = 0; i < hw.gpus_per_node; ++i) {
      const NodeVertexId v = boost::add_vertex(NodeVertex{NodeVertexKind::kGpu, i, node_index}, g);
      out.gpus_.push_back(Gpu{.vertex = v, .node = node_index});
    }
    const int32_t num_switches = (hw.gpus_per_node + kGpusPerPcieSwitch - 1) / kGpusPerPcieSwitch;
    std::vector<NodeVertexId> switches;
    for (int32_t s = 0; s < num_switches; ++s) {
      switches.push_back(
          boost::add_vertex(NodeVertex{NodeVertexKind::kPcieSwitch, s, node_index}, g));
    }
    node.host = boost::add_vertex(NodeVertex{NodeVertexKind::kHost, 0, node_index}, g);
    for (int32_t i = 0; i < hw.gpus_per_node; ++i) {
      const NodeVertexId sw = switches[static_cast<size_t>(i / kGpusPerPcieSwitch)];
      add_link(out.gpus_[static_cast<size_t>(node.first_gpu + i)].vertex, sw, hw.host_link_gb_s,
               kPcieHopLatencyUs);
      gpu_switch.push_back(sw);
    }
    for (NodeVertexId sw : switches) add_link(sw, node.host, hw.host_link_gb_s, kPcieHopLatencyUs);
    if (hw.topology == "nvswitch") {
      const NodeVertexId nvswitch =
          boost::add_vertex(NodeVertex{NodeVertexKind::kNvSwitch, 0, node_index}, g);
      for (int32_t i = 0; i < hw.gpus_per_node; ++i) {
        add_link(out.gpus_[static_cast<size_t>(node.first_gpu + i)].vertex, nvswitch,
                 hw.nvlink_gb_s, kNvlinkHopLatencyUs);
      }
    }
    if (networked) {
      for (int32_t i = 0; i < hw.gpus_per_node; ++i) {
        const NodeVertexId nic =
            boost::add_vertex(NodeVertex{NodeVertexKind::kNic, i, node_index}, g);
        add_link(gpu_switch[static_cast<size_t>(node.first_gpu + i)], nic, hw.host_link_gb_s,
                 kPcieHopLatencyUs);
        gpu_nic.push_back(nic);
      }
    }
    out.nodes_.push_back(std::move(node));
  }
  if (networked) {
    const NodeVertexId fabric = boost::add_vertex(NodeVertex{NodeVertexKind::kFabric, 0, 0}, g);
    for (size_t i = 0; i < out.gpus_.size(); ++i) {
      const HardwareSpec& hw = nodes[static_cast<size_t>(out.gpus_[i].node)];
      add_link(gpu_nic[i], fabric, hw.network_gb_s, hw.network_latency_us / 2);
      out.gpus_[i].fabric_path =
          out.path_along({out.gpus_[i].vertex, gpu_switch[i], gpu_nic[i], fabric});
    }
  }

  std::vector<NodeVertexId> predecessors(boost::num_vertices(g));
  std::vector<double> distances(boost::num_vertices(g));
  auto tree_from = [&](NodeVertexId source) {
    boost::dijkstra_shortest_paths(
        g, source,
        boost::predecessor_map(boost::make_iterator_property_map(
                                   predecessors.begin(), boost::get(boost::vertex_index, g)))
            .distance_map(boost::make_iterator_property_map(distances.begin(),
                                                            boost::get(boost::vertex_index, g)))
            .weight_map(boost::get(&NodeLink::latency_us, g)));
  };
  for (Node& node : out.nodes_) {
    // GPU <-> host routes: one shortest-path tree from the host serves every GPU of the node.
    tree_from(node.host);
    for (int32_t i = 0; i < node.num_gpus; ++i) {
      Gpu& gpu = out.gpus_[static_cast<size_t>(node.first_gpu + i)];
      gpu.host_path = reversed(out.path_from_tree(predecessors, node.host, gpu.vertex));
    }
    // GPU -> GPU routes within the node, all pairs: one tree per source GPU (nvswitch), or
    // through the host.
    const auto n = static_cast<size_t>(node.num_gpus);
    node.peer_paths.resize(n * n);
    for (int32_t a = 0; a < node.num_gpus; ++a) {
      const Gpu& ga = out.gpus_[static_cast<size_t>(node.first_gpu + a)];
      if (node.kind == "nvswitch") tree_from(ga.vertex);
      for (int32_t b = 0; b < node.num_gpus; ++b) {
        const Gpu& gb = out.gpus_[static_cast<size_t>(node.first_gpu + b)];
        NodePath& p = node.peer_paths[static_cast<size_t>(a) * n + static_cast<size_t>(b)];
        if (a == b) {
          p = out.path_along({ga.vertex});
        } else if (node.kind == "nvswitch") {
          p = out.path_from_tree(predecessors, ga.vertex, gb.vertex);
        } else {
          p = out.concatenate(ga.host_path, reversed(gb.host_path));
        }
      }
    }
  }
  return out;
}

NodeTopology NodeTopology::for_experiment(const ExperimentConfig& config) {
  const HardwareSpec& hw = config.hardware;
  if (hw.gpus_per_node >= 1) {
    validate_tensor_parallel(config.model, config.tensor_parallel, hw.gpus_per_node, &config.raw);
    validate_pipeline_parallel(config.model, config.tensor_parallel, config.pipeline_parallel,
                               hw.gpus_per_node, &config.raw);
    const int32_t nodes =
        nodes_for_replica(config.tensor_parallel, config.pipeline_parallel, hw.gpus_per_node);
    if (nodes > kMaxNodes) {
      fail(&config.raw, "model.pipeline_parallel",
           "needs " + std::to_string(nodes) + " nodes, more than " + std::to_string(kMaxNodes));
    }
    return build_cluster(std::vector<HardwareSpec>(static_cast<size_t>(nodes), hw), &config.raw);
  }
  return build_cluster({hw}, &config.raw);  // names hardware.gpus_per_node
}

int32_t NodeTopology::node_of(int32_t i) const {
  gpu(i);
  return gpus_[static_cast<size_t>(i)].node;
}

int32_t NodeTopology::first_gpu(int32_t node) const {
  check_invariant(node >= 0 && node < num_nodes(), "node index out of range");
  return nodes_[static_cast<size_t>(node)].first_gpu;
}

int32_t NodeTopology::gpus_on_node(int32_t node) const {
  check_invariant(node >= 0 && node < num_nodes(), "node index out of range");
  return nodes_[static_cast<size_t>(node)].num_gpus;
}

NodeVertexId NodeTopology::gpu(int32_t i) const {
  check_invariant(i >= 0 && i < num_gpus(), "GPU index out of range");
  return gpus_[static_cast<size_t>(i)].vertex;
}

NodeVertexId NodeTopology::host(int32_t node) const {
  check_invariant(node >= 0 && node < num_nodes(), "node index out of range");
  return nodes_[static_cast<size_t>(node)].host;
}

NodePath NodeTopology::path_from_tree(const std::vector<NodeVertexId>& predecessors,
                                      NodeVertexId from, NodeVertexId to) const {
  std::vector<NodeVertexId> vertices;
  for (NodeVertexId v = to;; v = predecessors[v]) {
    vertices.push_back(v);
    if (v == from) break;
    check_invariant(predecessors[v] != v, "node topology is not connected");
  }
  std::reverse(vertices.begin(), vertices.end());
  return path_along(vertices);
}

NodePath NodeTopology::path_along(const std::vector<NodeVertexId>& vertices) const {
  NodePath path;
  path.vertices = vertices;
  path.bottleneck_gb_s = path.vertices.size() > 1 ? kInfinity : 0.0;
  for (size_t k = 1; k < path.vertices.size(); ++k) {
    const NodeVertexId a = path.vertices[k - 1];
    const NodeVertexId b = path.vertices[k];
    const auto [edge, exists] = boost::edge(a, b, graph_);
    check_invariant(exists, "route uses a missing link");
    const NodeLink& link = graph_[edge];
    path.hops.push_back(NodeHop{link.id, a, b});
    path.bottleneck_gb_s = std::min(path.bottleneck_gb_s, link.gb_s);
    path.latency_us += link.latency_us;
  }
  return path;
}

NodePath NodeTopology::concatenate(const NodePath& first, const NodePath& second) const {
  check_invariant(first.vertices.back() == second.vertices.front(), "paths do not meet");
  NodePath out = first;
  out.vertices.insert(out.vertices.end(), second.vertices.begin() + 1, second.vertices.end());
  out.hops.insert(out.hops.end(), second.hops.begin(), second.hops.end());
  if (!second.hops.empty()) {
    out.bottleneck_gb_s = first.hops.empty()
                              ? second.bottleneck_gb_s
                              : std::min(first.bottleneck_gb_s, second.bottleneck_gb_s);
  }
  out.latency_us += second.latency_us;
  return out;
}

NodePath NodeTopology::path(NodeVertexId from, NodeVertexId to) const {
  const size_t n = boost::num_vertices(graph_);
  check_invariant(from < n && to < n, "vertex out of range");
  std::vector<NodeVertexId> predecessors(n);
  std::vector<double> distances(n);
  boost::dijkstra_shortest_paths(
      graph_, from,
      boost::predecessor_map(boost::make_iterator_property_map(
                                 predecessors.begin(), boost::get(boost::vertex_index, graph_)))
          .distance_map(boost::make_iterator_property_map(distances.begin(),
                                                          boost::get(boost::vertex_index, graph_)))
          .weight_map(boost::get(&NodeLink::latency_us, graph_)));
  return path_from_tree(predecessors, from, to);
}

NodePath NodeTopology::gpu_path(int32_t a, int32_t b) const {
  const int32_t na = node_of(a);
  const int32_t nb = node_of(b);
  if (na == nb) {
    const Node& node = nodes_[static_cast<size_t>(na)];
    const auto local_a = static_cast<size_t>(a - node.first_gpu);
    const auto local_b = static_cast<size_t>(b - node.first_gpu);
    return node.peer_paths[local_a * static_cast<size_t>(node.num_gpus) + local_b];
  }
  return concatenate(gpus_[static_cast<size_t>(a)].fabric_path,
                     reversed(gpus_[static_cast<size_t>(b)].fabric_path));
}

const NodePath& NodeTopology::host_path(int32_t i) const {
  gpu(i);
  return gpus_[static_cast<size_t>(i)].host_path;
}

std::vector<double> NodeTopology::shared_bandwidths_gb_s(const std::vector<NodePath>& flows) const {
  std::vector<int32_t> load(static_cast<size_t>(num_links_) * 2, 0);
  for (const NodePath& flow : flows) {
    for (const NodeHop& hop : flow.hops) ++load[direction_slot(hop)];
  }
  std::vector<double> out;
  out.reserve(flows.size());
  for (const NodePath& flow : flows) {
    double bw = flow.hops.empty() ? kInfinity : flow.bottleneck_gb_s;
    for (const NodeHop& hop : flow.hops) {
      const auto [edge, exists] = boost::edge(hop.from, hop.to, graph_);
      check_invariant(exists, "flow crosses a missing link");
      bw = std::min(bw, graph_[edge].gb_s / load[direction_slot(hop)]);
    }
    out.push_back(bw);
  }
  return out;
}

double TransferRate::seconds(int64_t bytes) const {
  check_invariant(bytes >= 0, "transfer of negative size");
  if (bytes == 0) return 0.0;
  return static_cast<double>(bytes) / (gb_s * 1e9) + latency_us * 1e-6;
}

double RingAllReduce::seconds(int64_t bytes) const {
  check_invariant(bytes >= 0, "all-reduce of negative size");
  if (num_gpus == 1 || bytes == 0) return 0.0;
  const double steps = 2.0 * (num_gpus - 1);
  return steps / num_gpus * static_cast<double>(bytes) / (bottleneck_gb_s * 1e9) +
         steps * step_latency_us * 1e-6;
}

TransferRate NodeTopology::host_transfer_rate(int32_t gpu_index, int32_t concurrent_gpus) const {
  check_invariant(gpu_index >= 0 && gpu_index < concurrent_gpus && concurrent_gpus <= num_gpus(),
                  "host transfer: GPU not among the concurrent ones");
  std::vector<NodePath> flows;
  for (int32_t i = 0; i < concurrent_gpus; ++i) flows.push_back(host_path(i));
  return TransferRate{shared_bandwidths_gb_s(flows)[static_cast<size_t>(gpu_index)],
                      host_path(gpu_index).latency_us};
}

double NodeTopology::host_transfer_seconds(int32_t gpu_index, int64_t bytes,
                                           int32_t concurrent_gpus) const {
  return host_transfer_rate(gpu_index, concurrent_gpus).seconds(bytes);
}

double NodeTopology::parallel_host_transfer_seconds(int64_t bytes, int32_t concurrent_gpus) const {
  double slowest = 0.0;
  for (int32_t i = 0; i < concurrent_gpus; ++i) {
    slowest = std::max(slowest, host_transfer_seconds(i, bytes, concurrent_gpus));
  }
  return slowest;
}

std::vector<TransferRate> NodeTopology::transfer_rates(
    const std::vector<GpuTransfer>& transfers) const {
  std::vector<NodePath> flows;
  flows.reserve(transfers.size());
  for (const GpuTransfer& t : transfers) flows.push_back(gpu_path(t.src, t.dst));
  const std::vector<double> shares = shared_bandwidths_gb_s(flows);
  std::vector<TransferRate> out;
  out.reserve(transfers.size());
  for (size_t i = 0; i < flows.size(); ++i) out.push_back({shares[i], flows[i].latency_us});
  return out;
}

double NodeTopology::kv_transfer_seconds(int64_t bytes, int32_t src, int32_t dst,
                                         const std::vector<GpuTransfer>& concurrent) const {
  std::vector<GpuTransfer> transfers{{src, dst}};
  transfers.insert(transfers.end(), concurrent.begin(), concurrent.end());
  return transfer_rates(transfers).front().seconds(bytes);
}

RingAllReduce NodeTopology::ring_allreduce(int32_t p) const {
  check_invariant(p >= 1 && p <= num_gpus(), "all-reduce over more GPUs than the topology has");
  std::vector<int32_t> gpus(static_cast<size_t>(p));
  for (int32_t i = 0; i < p; ++i) gpus[static_cast<size_t>(i)] = i;
  return ring_allreduce(gpus);
}

RingAllReduce NodeTopology::ring_allreduce(const std::vector<int32_t>& gpus) const {
  check_invariant(!gpus.empty(), "all-reduce over no GPUs");
  const auto p = static_cast<int32_t>(gpus.size());
  RingAllReduce ring;
  ring.num_gpus = p;
  if (p == 1) return ring;
  std::vector<NodePath> flows;
  for (size_t i = 0; i < gpus.size(); ++i) {
    flows.push_back(gpu_path(gpus[i], gpus[(i + 1) % gpus.size()]));
  }
  const std::vector<double> shares = shared_bandwidths_gb_s(flows);
  ring.bottleneck_gb_s = *std::min_element(shares.begin(), shares.end());
  for (const NodePath& flow : flows) {
    ring.step_latency_us = std::max(ring.step_latency_us, flow.latency_us);
  }
  return ring;
}

void validate_tensor_parallel(const ModelSpec& model, int32_t tp, int32_t gpus_per_node,
                              const Config* origins) {
  const std::string key = "model.tensor_parallel";
  if (tp < 1) fail(origins, key, "must be >= 1, got " + std::to_string(tp));
  if (tp > gpus_per_node) {
    fail(origins, key,
         std::to_string(tp) + " exceeds the node's " + std::to_string(gpus_per_node) +
             " GPUs (hardware.gpus_per_node)");
  }
  if (model.num_heads % tp != 0) {
    fail(origins, key,
         std::to_string(tp) + " does not divide " + model.name + "'s " +
             std::to_string(model.num_heads) + " attention heads");
  }
  if (model.num_kv_heads % tp != 0) {
    fail(origins, key,
         std::to_string(tp) + " does not divide " + model.name + "'s " +
             std::to_string(model.num_kv_heads) + " KV heads");
  }
}

void validate_pipeline_parallel(const ModelSpec& model, int32_t tp, int32_t pp,
                                int32_t gpus_per_node, const Config* origins) {
  const std::string key = "model.pipeline_parallel";
  if (pp < 1) fail(origins, key, "must be >= 1, got " + std::to_string(pp));
  if (pp > model.num_layers) {
    fail(origins, key,
         std::to_string(pp) + " stages exceed " + model.name + "'s " +
             std::to_string(model.num_layers) + " layers (every stage needs one)");
  }
  if (static_cast<int64_t>(tp) * pp > gpus_per_node && gpus_per_node % tp != 0) {
    fail(origins, key,
         std::to_string(tp) + " x " + std::to_string(pp) + " GPUs span nodes of " +
             std::to_string(gpus_per_node) + " GPUs (hardware.gpus_per_node), which " +
             "model.tensor_parallel = " + std::to_string(tp) +
             " does not divide: a stage would straddle two nodes");
  }
}

int32_t nodes_for_replica(int32_t tp, int32_t pp, int32_t gpus_per_node) {
  const int64_t gpus = static_cast<int64_t>(tp) * pp;
  return static_cast<int32_t>((gpus + gpus_per_node - 1) / gpus_per_node);
}

}  // namespace kvlab
