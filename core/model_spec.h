// Shapes of models and GPUs, as plain data. The catalogs (core/catalog.cc) map
// names to them; every back end reads the same entries, so a simulated llama-2-7b and a
// dummy-weight llama-2-7b on CUDA have the same KV bytes per token.
#pragma once

#include <cstdint>
#include <string>

#include "core/kv_dtype.h"
#include "core/registry.h"

namespace kvlab {

struct ModelSpec {
  std::string name;
  // llama: RMSNorm, RoPE, SwiGLU MLP, no biases.
  // opt: learned positions (a table of max_seq_len + 2 rows), LayerNorm with bias, biases on
  //      every projection, ReLU MLP (Hugging Face opt-13b/66b/175b: activation_function relu).
  std::string family = "llama";
  int32_t num_layers = 0;
  int32_t hidden_size = 0;
  int32_t num_heads = 0;
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;
  int32_t ffn_size = 0;
  int32_t vocab_size = 0;
  int32_t max_seq_len = 0;
  int32_t dtype_bytes = 2;
  double rope_theta = 10000.0;
  // How the KV cache stores K and V (memory.kv_dtype; core/kv_dtype.h). Not a property of the
  // catalog entry (always auto there): the experiment's resolution sets it.
  KvDtype kv_dtype = KvDtype::kAuto;

  // What the family's layers are (family_catalog()). Throw InputError for an unknown family.
  bool gated_mlp() const;
  // OPT's extras: projection biases, LayerNorm biases, the learned position table.
  bool has_biases() const;
  bool learned_positions() const;
  // K and V of one token in every layer, as kv_dtype stores them:
  // 2 x layers x kv_heads x (head_dim x element bytes + scale bytes), where auto's element is
  // dtype_bytes and only fp8_e4m3 and int8 carry a scale (kKvScaleBytes).
  int64_t kv_bytes_per_slot() const {
    const int64_t per_head = static_cast<int64_t>(head_dim) * kv_element_bytes(kv_dtype, dtype_bytes) +
                             (kv_dtype_scaled(kv_dtype) ? kKvScaleBytes : 0);
    return 2LL * num_layers * num_kv_heads * per_head;
  }
  // Parameters of one decoder layer (with OPT's projection and LayerNorm biases) and of the
  // whole model: token embeddings and an untied LM head (OPT ties them; kvlab counts both, as
  // its CPU model holds both), OPT's position table, the final norm. Exactly what the CPU
  // models load (LlamaWeights / OptWeights::num_params).
  int64_t params_per_layer() const;
  int64_t num_params() const;
  int64_t weight_bytes() const { return num_params() * dtype_bytes; }
};

struct HardwareSpec {
  std::string name;
  double memory_gib = 0;          // device memory
  double hbm_gb_s = 0;            // peak HBM bandwidth, GB/s (1e9 bytes)
  double fp16_tflops = 0;         // dense fp16/bf16 tensor-core peak
  double host_link_gb_s = 0;      // PCIe to host, per direction
  double nvlink_gb_s = 0;         // per-GPU NVLink bandwidth per direction (0: none)
  int32_t gpus_per_node = 1;      // default node size
  std::string topology = "pcie";  // default: nvswitch | pcie
  // The inter-node network: one NIC per GPU (GPUDirect RDMA, on the GPU's PCIe switch), each
  // with this bandwidth per direction, GB/s, into a non-blocking fabric; and the one-way
  // latency from NIC to NIC across the fabric, microseconds (sim/topology.h).
  double network_gb_s = 0;
  double network_latency_us = 0;
};

// A model family's architecture, as data: what its layers hold (the back ends' own model code
// for a family lives with them: kernels/model, kernels/cuda).
struct ModelFamily {
  std::string name;
  bool gated_mlp = true;           // SwiGLU (three MLP matrices) rather than fc1 / fc2
  bool biases = false;             // biases on every projection and LayerNorm
  bool learned_positions = false;  // a learned position table (max_seq_len + 2 rows), no RoPE
};

Catalog<ModelFamily>& family_catalog();
Catalog<ModelSpec>& model_catalog();
Catalog<HardwareSpec>& hardware_catalog();

}  // namespace kvlab
