#include <iomanip>
#include <iostream>

#include "app/cli/commands.h"
#include "app/results_schema_doc.h"
#include "core/config.h"
#include "core/config_keys.h"
#include "core/suggest.h"
#include "core/cost_model.h"
#include "core/executor.h"
#include "core/kv_cache_manager.h"
#include "core/model_spec.h"
#include "core/scheduler.h"
#include "core/workload.h"
#include "core/router.h"
#include "policies/eviction/eviction.h"
#include "policies/scheduling/preemption_rules.h"

namespace kvlab::cli {

namespace {

template <typename R>
void print_registry(const char* title, const R& registry) {
  std::cout << title << ":\n";
  for (const std::string& name : registry.names()) {
    std::cout << "  " << std::left << std::setw(20) << name << " " << registry.description(name) << "\n";
  }
}

void print_models() {
  std::cout << "models:\n  " << std::left << std::setw(14) << "name" << std::right << std::setw(7)
            << "layers" << std::setw(7) << "hidden" << std::setw(7) << "heads" << std::setw(5)
            << "kv" << std::setw(6) << "hdim" << std::setw(7) << "ffn" << std::setw(8) << "vocab"
            << std::setw(7) << "ctx" << std::setw(9) << "params" << std::setw(13) << "KV/token"
            << "\n";
  for (const std::string& name : model_catalog().names()) {
    const ModelSpec& m = model_catalog().get(name);
    std::cout << "  " << std::left << std::setw(14) << name << std::right << std::setw(7)
              << m.num_layers << std::setw(7) << m.hidden_size << std::setw(7) << m.num_heads
              << std::setw(5) << m.num_kv_heads << std::setw(6) << m.head_dim << std::setw(7)
              << m.ffn_size << std::setw(8) << m.vocab_size << std::setw(7) << m.max_seq_len
              << std::setw(8) << std::fixed << std::setprecision(1) << m.num_params() / 1e9 << "B"
              << std::setw(9) << std::setprecision(m.kv_bytes_per_slot() < 10240 ? 1 : 0)
              << m.kv_bytes_per_slot() / 1024.0 << " KiB\n";
  }
}

void print_hardware() {
  std::cout << "hardware:\n  " << std::left << std::setw(15) << "name" << std::right
            << std::setw(8) << "GiB" << std::setw(9) << "HBM GB/s" << std::setw(9) << "TFLOP/s"
            << std::setw(10) << "host GB/s" << std::setw(12) << "NVLink GB/s" << std::setw(6)
            << "GPUs" << std::setw(10) << "topology" << std::setw(10) << "net GB/s"
            << std::setw(8) << "net us" << "\n";
  for (const std::string& name : hardware_catalog().names()) {
    const HardwareSpec& h = hardware_catalog().get(name);
    std::cout << "  " << std::left << std::setw(15) << name << std::right << std::setw(8)
              << h.memory_gib << std::setw(9) << h.hbm_gb_s << std::setw(9) << h.fp16_tflops
              << std::setw(10) << h.host_link_gb_s << std::setw(12) << h.nvlink_gb_s
              << std::setw(6) << h.gpus_per_node << std::setw(10) << h.topology << std::setw(10)
              << h.network_gb_s << std::setw(8) << h.network_latency_us << "\n";
  }
}

void print_keys() {
  std::cout << "config keys (section.key = default: meaning):\n";
  for (const KeySpec* k : config_keys().keys()) {
    std::cout << "  " << std::left << std::setw(34) << k->key << std::setw(18)
              << (k->default_value.empty() ? "\"\"" : k->default_value) << k->doc << "\n";
  }
}

// A table cell's text: a '|' would end the cell.
std::string markdown_cell(const std::string& text) {
  std::string cell;
  for (char c : text) cell += c == '|' ? std::string("\\|") : std::string(1, c);
  return cell;
}

// docs/config.md's key tables: one table per section, every declared key with its type and
// allowed values, default, meaning and who declares it (tests/e2e checks the doc against it).
void print_keys_markdown() {
  std::string section;
  for (const KeySpec* k : config_keys().keys()) {
    const std::string s = k->key.substr(0, k->key.find('.'));
    if (s != section) {
      if (!section.empty()) std::cout << "\n";
      section = s;
      std::cout << "### [" << section << "]\n\n"
                << "| key | values | default | meaning | declared by |\n"
                << "|---|---|---|---|---|\n";
    }
    std::string owners;
    for (const std::string& o : config_keys().owners(k->key)) {
      owners += (owners.empty() ? "" : ", ") + o;
    }
    std::string values = markdown_cell(k->domain());
    if (k->type == KeyType::kChoice) {
      values.clear();
      for (const std::string& v : k->allowed()) {
        values += (values.empty() ? "" : " \\| ") + (v.empty() ? "\"\"" : "`" + v + "`");
      }
      if (values.empty()) values = "(none registered)";
    }
    std::cout << "| `" << k->key << "` | " << values << " | "
              << (k->default_value.empty() ? "\"\"" : "`" + k->default_value + "`") << " | "
              << markdown_cell(k->doc) << " | " << owners << " |\n";
  }
}

}  // namespace

int list_command(const std::vector<std::string>& args) {
  const std::string what = args.empty() ? "all" : args[0];
  if (what == "--help" || what == "-h") {
    std::cout
        << "usage: kvlab list [policies|schedulers|routers|models|hardware|formats|backends|keys|results]\n"
           "       kvlab list keys --markdown   (docs/config.md's key tables)\n"
           "results: the result files' datasets, attributes and summary names, as the\n"
           "markdown tables of docs/results-format.md\n";
    return 0;
  }
  if (what == "keys" && args.size() == 2 && args[1] == "--markdown") {
    print_keys_markdown();
    return 0;
  }
  bool any = false;
  auto want = [&](const char* name) {
    const bool yes = what == "all" || what == name;
    if (yes && any) std::cout << "\n";
    any = any || yes;
    return yes;
  };
  if (want("policies")) {
    print_registry("memory policies (memory.policy)", memory_policies());
    print_registry("prefix-cache eviction (memory.eviction)", eviction_policies());
  }
  if (want("schedulers")) {
    print_registry("schedulers (scheduler.batching)", schedulers());
    print_registry("preemption modes (scheduler.preemption)", preemption_rules());
    print_registry("preemption victims (scheduler.victim)", victim_rules());
  }
  if (want("routers")) {
    print_registry("routers (cluster.router, cluster.decode_router)", routers());
  }
  if (want("models")) print_models();
  if (want("hardware")) print_hardware();
  if (want("formats")) print_registry("trace formats (workload.format)", trace_readers());
  if (want("backends")) {
    print_registry("back ends (backend.kind)", executors());
    print_registry("simulator cost models (backend.cost_model)", cost_models());
  }
  if (want("keys")) print_keys();
  if (want("results")) {
    // Alone, exactly the tables of docs/results-format.md, so that they can be pasted there.
    if (what == "all") std::cout << "result files (docs/results-format.md):\n\n";
    std::cout << results_schema_markdown();
  }
  if (!any) {
    std::cerr << "kvlab list: "
              << unknown_name_message("list", what,
                                      {"policies", "schedulers", "routers", "models", "hardware", "formats",
                                       "backends", "keys", "results"})
              << "\n";
    return 2;
  }
  return 0;
}

}  // namespace kvlab::cli
