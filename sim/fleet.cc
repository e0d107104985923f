#include "sim/fleet.h"

#include <algorithm>

#include "core/errors.h"

namespace kvlab {

Fleet::Fleet(const std::vector<const ExperimentConfig*>& replicas) : configs_(replicas) {
  std::string node_hardware;
  int32_t used = 0;  // GPUs taken in the last node
  for (const ExperimentConfig* c : replicas) {
    const int32_t gpus = std::max(1, c->tensor_parallel) * std::max(1, c->pipeline_parallel);
    const int32_t per_node = std::max(1, c->hardware.gpus_per_node);
    const std::string hw =
        c->hardware.name + "/" + c->hardware.topology + "/" + std::to_string(per_node);
    const bool fits = !nodes_.empty() && hw == node_hardware && used + gpus <= per_node;
    if (!fits) used = per_node;  // start afresh
    Place place{static_cast<int32_t>(nodes_.size()) - 1, used, gpus, per_node};
    if (used == per_node) {
      place.node = static_cast<int32_t>(nodes_.size());
      place.first_gpu = 0;
      const int32_t span = (gpus + per_node - 1) / per_node;
      for (int32_t i = 0; i < span; ++i) {
        nodes_.push_back(NodeTopology::build(c->hardware, per_node, c->hardware.topology, &c->raw));
      }
      node_hardware = hw;
      used = gpus > per_node ? per_node : 0;
    }
    if (gpus <= per_node) used = place.first_gpu + gpus;
    places_.push_back(place);
  }
}

int32_t Fleet::num_gpus(int32_t replica) const {
  return places_.at(static_cast<size_t>(replica)).num_gpus;
}

Fleet::GpuPlace Fleet::gpu_of(int32_t replica, int32_t k) const {
  const Place& p = places_.at(static_cast<size_t>(replica));
  check_invariant(k >= 0 && k < p.num_gpus, "fleet: GPU index out of range");
  const int32_t flat = p.first_gpu + k;
  return GpuPlace{p.node + flat / p.gpus_per_node, flat % p.gpus_per_node};
}

double Fleet::transfer(double ready_s, int64_t bytes, int32_t src, int32_t dst) {
  const int32_t from_gpus = num_gpus(src);
  const int32_t to_gpus = num_gpus(dst);
  const HardwareSpec& from_hw = configs_.at(static_cast<size_t>(src))->hardware;
  const HardwareSpec& to_hw = configs_.at(static_cast<size_t>(dst))->hardware;
  const int64_t shard = (bytes + from_gpus - 1) / from_gpus;
  double done = ready_s;
  for (int32_t k = 0; k < from_gpus; ++k) {
    const GpuPlace a = gpu_of(src, k);
    const GpuPlace b = gpu_of(dst, k % to_gpus);
    std::vector<LinkKey> links;
    double gb_s = 0;
    double latency_us = 0;
    if (a.node == b.node) {
      const NodePath& path = nodes_[static_cast<size_t>(a.node)].gpu_path(a.gpu, b.gpu);
      for (const NodeHop& hop : path.hops) {
        links.emplace_back(a.node, hop.link, hop.from < hop.to ? 0 : 1);
      }
      gb_s = path.bottleneck_gb_s;
      latency_us = path.latency_us;
    } else {
      links.emplace_back(a.node, -1 - a.gpu, 0);  // out of the source node
      links.emplace_back(b.node, -1 - b.gpu, 1);  // into the destination node
      gb_s = std::min(from_hw.network_gb_s, to_hw.network_gb_s);
      latency_us = std::max(from_hw.network_latency_us, to_hw.network_latency_us);
      check_invariant(gb_s > 0, "fleet: a network of no bandwidth between nodes");
    }
    double start = ready_s;
    for (const LinkKey& l : links) {
      const auto it = busy_until_.find(l);
      if (it != busy_until_.end()) start = std::max(start, it->second);
    }
    const double seconds =
        links.empty() ? 0.0 : static_cast<double>(shard) / (gb_s * 1e9) + latency_us * 1e-6;
    const double end = start + seconds;
    for (const LinkKey& l : links) busy_until_[l] = end;
    done = std::max(done, end);
  }
  return done;
}

}  // namespace kvlab
