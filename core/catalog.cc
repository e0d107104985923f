// The model and hardware catalogs: named shapes every back end reads (core/model_spec.h).
//
// Models: the published Hugging Face config.json values (num_hidden_layers, hidden_size,
// num_attention_heads, num_key_value_heads, head_dim = hidden / heads, intermediate_size,
// vocab_size, max_position_embeddings, rope_theta), stored in fp16/bf16 (2 bytes).
// Hardware: NVIDIA datasheet numbers (cited per entry); host links as usable bandwidth.
#include "core/model_spec.h"

namespace kvlab {
namespace {

void add_models(Catalog<ModelSpec>& models) {
  // --- Models ---------------------------------------------------------------------------------

  // OPT (facebook/opt-*): pre-LayerNorm (do_layer_norm_before), ReLU MLP (activation_function
  // "relu", ffn = 4 x hidden), biases on every projection, multi-head attention, learned absolute
  // positions (no RoPE: rope_theta 0; a table of max_position_embeddings + 2 rows), 2048-token
  // context. The vLLM paper's models.
  models.add("opt-13b",
                 ModelSpec{.name = "opt-13b",
                           .family = "opt",
                           .num_layers = 40,
                           .hidden_size = 5120,
                           .num_heads = 40,
                           .num_kv_heads = 40,
                           .head_dim = 128,
                           .ffn_size = 20480,
                           .vocab_size = 50272,
                           .max_seq_len = 2048,
                           .dtype_bytes = 2,
                           .rope_theta = 0.0});
  models.add("opt-66b",
                 ModelSpec{.name = "opt-66b",
                           .family = "opt",
                           .num_layers = 64,
                           .hidden_size = 9216,
                           .num_heads = 72,
                           .num_kv_heads = 72,
                           .head_dim = 128,
                           .ffn_size = 36864,
                           .vocab_size = 50272,
                           .max_seq_len = 2048,
                           .dtype_bytes = 2,
                           .rope_theta = 0.0});
  models.add("opt-175b",
                 ModelSpec{.name = "opt-175b",
                           .family = "opt",
                           .num_layers = 96,
                           .hidden_size = 12288,
                           .num_heads = 96,
                           .num_kv_heads = 96,
                           .head_dim = 128,
                           .ffn_size = 49152,
                           .vocab_size = 50272,
                           .max_seq_len = 2048,
                           .dtype_bytes = 2,
                           .rope_theta = 0.0});

  // Llama 2 (meta-llama/Llama-2-*-hf): RMSNorm, RoPE (theta 1e4), SwiGLU, 4096-token context;
  // the 70B uses grouped-query attention with 8 KV heads.
  models.add("llama-2-7b",
                 ModelSpec{.name = "llama-2-7b",
                           .family = "llama",
                           .num_layers = 32,
                           .hidden_size = 4096,
                           .num_heads = 32,
                           .num_kv_heads = 32,
                           .head_dim = 128,
                           .ffn_size = 11008,
                           .vocab_size = 32000,
                           .max_seq_len = 4096,
                           .dtype_bytes = 2,
                           .rope_theta = 10000.0});
  models.add("llama-2-13b",
                 ModelSpec{.name = "llama-2-13b",
                           .family = "llama",
                           .num_layers = 40,
                           .hidden_size = 5120,
                           .num_heads = 40,
                           .num_kv_heads = 40,
                           .head_dim = 128,
                           .ffn_size = 13824,
                           .vocab_size = 32000,
                           .max_seq_len = 4096,
                           .dtype_bytes = 2,
                           .rope_theta = 10000.0});
  models.add("llama-2-70b",
                 ModelSpec{.name = "llama-2-70b",
                           .family = "llama",
                           .num_layers = 80,
                           .hidden_size = 8192,
                           .num_heads = 64,
                           .num_kv_heads = 8,
                           .head_dim = 128,
                           .ffn_size = 28672,
                           .vocab_size = 32000,
                           .max_seq_len = 4096,
                           .dtype_bytes = 2,
                           .rope_theta = 10000.0});

  // Llama 3 (meta-llama/Meta-Llama-3-*): 128K vocabulary, RoPE theta 5e5, GQA with 8 KV heads,
  // 8192-token context.
  models.add("llama-3-8b",
                 ModelSpec{.name = "llama-3-8b",
                           .family = "llama",
                           .num_layers = 32,
                           .hidden_size = 4096,
                           .num_heads = 32,
                           .num_kv_heads = 8,
                           .head_dim = 128,
                           .ffn_size = 14336,
                           .vocab_size = 128256,
                           .max_seq_len = 8192,
                           .dtype_bytes = 2,
                           .rope_theta = 500000.0});
  models.add("llama-3-70b",
                 ModelSpec{.name = "llama-3-70b",
                           .family = "llama",
                           .num_layers = 80,
                           .hidden_size = 8192,
                           .num_heads = 64,
                           .num_kv_heads = 8,
                           .head_dim = 128,
                           .ffn_size = 28672,
                           .vocab_size = 128256,
                           .max_seq_len = 8192,
                           .dtype_bytes = 2,
                           .rope_theta = 500000.0});

  // Mistral 7B v0.1 (mistralai/Mistral-7B-v0.1): Llama-style with 8 KV heads and
  // max_position_embeddings 32768. Its 4096-token sliding-window attention is NOT modeled:
  // kvlab keeps (and prices) the KV of the whole context, as a full-attention model would.
  models.add("mistral-7b",
                 ModelSpec{.name = "mistral-7b",
                           .family = "llama",
                           .num_layers = 32,
                           .hidden_size = 4096,
                           .num_heads = 32,
                           .num_kv_heads = 8,
                           .head_dim = 128,
                           .ffn_size = 14336,
                           .vocab_size = 32000,
                           .max_seq_len = 32768,
                           .dtype_bytes = 2,
                           .rope_theta = 10000.0});

  // Qwen2 7B (Qwen/Qwen2-7B-Instruct config): 28 layers, 28 heads, 4 KV heads, RoPE theta 1e6,
  // 32768-token context (the base model's card advertises 128K with YaRN, not modeled). Its
  // q/k/v biases are not counted in params_per_layer (0.01% of the parameters).
  models.add("qwen2-7b",
                 ModelSpec{.name = "qwen2-7b",
                           .family = "llama",
                           .num_layers = 28,
                           .hidden_size = 3584,
                           .num_heads = 28,
                           .num_kv_heads = 4,
                           .head_dim = 128,
                           .ffn_size = 18944,
                           .vocab_size = 152064,
                           .max_seq_len = 32768,
                           .dtype_bytes = 2,
                           .rope_theta = 1000000.0});

  // A toy Llama for the CPU engine's tests: small enough to run many steps in CI, with GQA (2 KV
  // heads for 4 query heads) so the grouped path is exercised; fp32 for exact CPU arithmetic.
  models.add("tiny-llama",
                 ModelSpec{.name = "tiny-llama",
                           .family = "llama",
                           .num_layers = 2,
                           .hidden_size = 64,
                           .num_heads = 4,
                           .num_kv_heads = 2,
                           .head_dim = 16,
                           .ffn_size = 128,
                           .vocab_size = 256,
                           .max_seq_len = 1024,
                           .dtype_bytes = 4,
                           .rope_theta = 10000.0});

  // tiny-llama with its 64 hidden units in 8 heads of 8 and 4 KV heads (GQA 2:1), so that
  // model.tensor_parallel = 1, 2 and 4 all split it (the cpu back end's tensor parallelism);
  // the same 128 bytes per token per layer and K/V tensor as tiny-llama.
  models.add("tiny-llama-8h",
                 ModelSpec{.name = "tiny-llama-8h",
                           .family = "llama",
                           .num_layers = 2,
                           .hidden_size = 64,
                           .num_heads = 8,
                           .num_kv_heads = 4,
                           .head_dim = 8,
                           .ffn_size = 128,
                           .vocab_size = 256,
                           .max_seq_len = 1024,
                           .dtype_bytes = 4,
                           .rope_theta = 10000.0});

  // A toy OPT for the CPU engine's tests: the OPT architecture (learned positions, LayerNorm,
  // biases, ReLU MLP with ffn = 4 x hidden, multi-head attention) at tiny-llama's size; fp32.
  models.add("tiny-opt",
                 ModelSpec{.name = "tiny-opt",
                           .family = "opt",
                           .num_layers = 2,
                           .hidden_size = 64,
                           .num_heads = 4,
                           .num_kv_heads = 4,
                           .head_dim = 16,
                           .ffn_size = 256,
                           .vocab_size = 256,
                           .max_seq_len = 512,
                           .dtype_bytes = 4,
                           .rope_theta = 0.0});
}

void add_hardware(Catalog<HardwareSpec>& hardware) {
  // --- Hardware -------------------------------------------------------------------------------
  //
  // memory_gib: the datasheet capacity (nvidia-smi shows a little less on some parts, e.g.
  // A10G 23,028 MiB; gpu_memory_utilization absorbs it). fp16_tflops: dense tensor-core
  // FP16/BF16 (datasheets print the 2:4-sparse figure, twice this). host_link_gb_s: usable
  // host<->device copy bandwidth per direction: PCIe 4.0 x16 is 32 GB/s raw and ~25 GB/s in
  // pinned cudaMemcpy; PCIe 5.0 x16 is 64 GB/s raw and ~50 GB/s usable. nvlink_gb_s: per GPU
  // per direction (datasheets print the bidirectional total, twice this).
  // network_gb_s: one NIC per GPU, per direction (line rate / 8): DGX A100 has eight ConnectX-6
  // HDR InfiniBand 200 Gb/s compute NICs (25 GB/s per GPU), DGX H100 and H200 eight ConnectX-7
  // NDR 400 Gb/s (50 GB/s per GPU) (NVIDIA DGX A100 / DGX H100 user guides). network_latency_us:
  // one way, NIC to NIC through the fabric, 1 us: InfiniBand RDMA write latency is about 1 us
  // (perftest ib_write_lat on HDR/NDR), of which a switch hop is ~0.1-0.2 us; the GPU's PCIe
  // hops to its NIC are the topology's own (so GPU to remote GPU is ~5 us in all).

  // NVIDIA A10G (AWS G5): 24 GB GDDR6 at 600 GB/s; 70 TFLOP/s dense FP16 tensor (the A10G is
  // clocked for CUDA cores: the A10's datasheet says 125; Baseten, "NVIDIA A10 vs A10G for ML
  // model inference"); PCIe 4.0 x16, no NVLink; one GPU per node (g5.xlarge ... g5.16xlarge).
  // Network: Ethernet (ENA), 25 Gb/s on g5.4xlarge ... g5.16xlarge (AWS G5 instance table), so
  // 3.125 GB/s; one-way latency over TCP on ENA is tens of microseconds: 15 us is an assumed
  // order of magnitude, not a measurement (set hardware.network_latency_us where it matters).
  hardware.add("a10g",
                 HardwareSpec{.name = "a10g",
                              .memory_gib = 24,
                              .hbm_gb_s = 600,
                              .fp16_tflops = 70,
                              .host_link_gb_s = 25,
                              .nvlink_gb_s = 0,
                              .gpus_per_node = 1,
                              .topology = "pcie",
                              .network_gb_s = 3.125,
                              .network_latency_us = 15.0});

  // NVIDIA A100 Tensor Core GPU datasheet (SXM): 40 GB HBM2 at 1,555 GB/s or 80 GB HBM2e at
  // 2,039 GB/s; BF16/FP16 tensor 312 TFLOP/s dense (624 sparse); NVLink 600 GB/s bidirectional;
  // PCIe Gen4 64 GB/s bidirectional. DGX/HGX A100: 8 GPUs on NVSwitch.
  hardware.add("a100-40gb",
                 HardwareSpec{.name = "a100-40gb",
                              .memory_gib = 40,
                              .hbm_gb_s = 1555,
                              .fp16_tflops = 312,
                              .host_link_gb_s = 25,
                              .nvlink_gb_s = 300,
                              .gpus_per_node = 8,
                              .topology = "nvswitch",
                              .network_gb_s = 25,
                              .network_latency_us = 1.0});
  hardware.add("a100-80gb",
                 HardwareSpec{.name = "a100-80gb",
                              .memory_gib = 80,
                              .hbm_gb_s = 2039,
                              .fp16_tflops = 312,
                              .host_link_gb_s = 25,
                              .nvlink_gb_s = 300,
                              .gpus_per_node = 8,
                              .topology = "nvswitch",
                              .network_gb_s = 25,
                              .network_latency_us = 1.0});

  // NVIDIA H100 Tensor Core GPU datasheet (SXM5): 80 GB HBM3 at 3.35 TB/s; BF16/FP16 tensor
  // 1,979 TFLOP/s with sparsity (989 dense); NVLink 900 GB/s bidirectional; PCIe Gen5
  // 128 GB/s bidirectional. DGX/HGX H100: 8 GPUs on NVSwitch.
  hardware.add("h100-sxm-80gb",
                 HardwareSpec{.name = "h100-sxm-80gb",
                              .memory_gib = 80,
                              .hbm_gb_s = 3350,
                              .fp16_tflops = 989,
                              .host_link_gb_s = 50,
                              .nvlink_gb_s = 450,
                              .gpus_per_node = 8,
                              .topology = "nvswitch",
                              .network_gb_s = 50,
                              .network_latency_us = 1.0});

  // NVIDIA H200 Tensor Core GPU datasheet (SXM): 141 GB HBM3e at 4.8 TB/s; the H100's compute
  // (1,979 TFLOP/s FP16 sparse, 989 dense), NVLink 900 GB/s and PCIe Gen5 128 GB/s
  // bidirectional. HGX H200: 8 GPUs on NVSwitch.
  hardware.add("h200",
                 HardwareSpec{.name = "h200",
                              .memory_gib = 141,
                              .hbm_gb_s = 4800,
                              .fp16_tflops = 989,
                              .host_link_gb_s = 50,
                              .nvlink_gb_s = 450,
                              .gpus_per_node = 8,
                              .topology = "nvswitch",
                              .network_gb_s = 50,
                              .network_latency_us = 1.0});
}

}  // namespace

Catalog<ModelFamily>& family_catalog() {
  static Catalog<ModelFamily> catalog = [] {
    Catalog<ModelFamily> families("model family");
    // Llama 2/3, Mistral, Qwen2: RMSNorm, RoPE, SwiGLU MLP, no biases.
    families.add("llama", ModelFamily{.name = "llama"});
    // OPT (Hugging Face OPTForCausalLM, do_layer_norm_before): LayerNorm with bias, biases on
    // every projection, ReLU MLP, learned positions.
    families.add(
        "opt",
        ModelFamily{.name = "opt", .gated_mlp = false, .biases = true, .learned_positions = true});
    return families;
  }();
  return catalog;
}

Catalog<ModelSpec>& model_catalog() {
  static Catalog<ModelSpec> catalog = [] {
    Catalog<ModelSpec> models("model");
    add_models(models);
    return models;
  }();
  return catalog;
}

Catalog<HardwareSpec>& hardware_catalog() {
  static Catalog<HardwareSpec> catalog = [] {
    Catalog<HardwareSpec> hardware("hardware");
    add_hardware(hardware);
    return hardware;
  }();
  return catalog;
}

}  // namespace kvlab
