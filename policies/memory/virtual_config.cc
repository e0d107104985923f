// memory.policy = virtual: its keys (page size, deferred reclamation, eager mapping, virtual
// space, overlap), their validation, and the registry entry. The manager is virtual.cc.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>

#include "core/errors.h"
#include "policies/memory/virtual.h"

namespace kvlab {

std::string page_size_label(int64_t bytes) {
  if (bytes % (1 << 20) == 0) return std::to_string(bytes >> 20) + "MiB";
  if (bytes % (1 << 10) == 0) return std::to_string(bytes >> 10) + "KiB";
  return std::to_string(bytes);
}

int64_t parse_page_size(const std::string& text, const std::string& field) {
  std::string valid;
  for (int64_t size : kVirtualPageSizes) {
    valid += (valid.empty() ? "" : ", ") + page_size_label(size);
  }
  auto fail = [&](const std::string& why) -> int64_t {
    throw InputError("", 0, field,
                     "'" + text + "' " + why + " (valid: " + valid +
                         ", or the same in bytes: 65536, 131072, 262144, 2097152)");
  };
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 9) return fail("is not a page size");
  int64_t value = std::stoll(text.substr(0, digits));
  const std::string suffix = text.substr(digits);
  if (suffix == "KiB") {
    value <<= 10;
  } else if (suffix == "MiB") {
    value <<= 20;
  } else if (!suffix.empty()) {
    return fail("has an unknown unit (KiB or MiB)");
  }
  for (int64_t size : kVirtualPageSizes) {
    if (value == size) return value;
  }
  return fail("is not a page size the virtual manager supports");
}

namespace {

constexpr double kGiBytes = 1024.0 * 1024.0 * 1024.0;

int64_t page_bytes_of(const MemoryConfig& c) {
  return parse_page_size(c.settings.get_string("memory.page_size"));
}

}  // namespace

int32_t virtual_tokens_per_page(const MemoryConfig& config) {
  if (config.kv_tensor_bytes_per_token <= 0) return 0;
  return static_cast<int32_t>(page_bytes_of(config) / config.kv_tensor_bytes_per_token);
}

VirtualOptions virtual_options(const MemoryConfig& config) {
  const Config& c = config.settings;
  check_memory_sizes(config);
  if (config.kv_tensor_bytes_per_token <= 0 || config.kv_layers <= 0) {
    throw InputError("", 0, "model.name",
                     "the virtual memory policy sizes pages in bytes and needs the model's KV "
                     "layout (MemoryConfig::kv_tensor_bytes_per_token and kv_layers)");
  }
  VirtualOptions o;
  try {
    o.page_bytes = page_bytes_of(config);
  } catch (const InputError& e) {
    c.fail("memory.page_size", e.reason());
  }
  const int64_t per_token = config.kv_tensor_bytes_per_token;
  o.tokens_per_page = static_cast<int32_t>(o.page_bytes / per_token);
  if (o.tokens_per_page < 1) {
    c.fail("memory.page_size", page_size_label(o.page_bytes) + " holds no token of this model (" +
                                   std::to_string(per_token) +
                                   " bytes per token per layer per K or V tensor)");
  }
  // The pool: the KV budget's bytes (capacity_slots x 2 x layers x per_token) in page groups
  // of 2 x layers x page_bytes.
  const int64_t groups =
      static_cast<int64_t>((static_cast<double>(config.capacity_slots) * per_token) /
                           static_cast<double>(o.page_bytes));
  if (groups < 1) {
    throw InputError("", 0, "memory.capacity_slots",
                     std::to_string(config.capacity_slots) + " slots do not fill one " +
                         page_size_label(o.page_bytes) + " page per layer and tensor");
  }
  o.num_pages = static_cast<int32_t>(std::min<int64_t>(groups, kInt32Max));
  o.pages_per_range = static_cast<int32_t>(
      (static_cast<int64_t>(config.max_seq_len) + o.tokens_per_page - 1) / o.tokens_per_page);
  o.layers = config.kv_layers;
  const double range_bytes =
      2.0 * o.layers * static_cast<double>(o.pages_per_range) * static_cast<double>(o.page_bytes);
  const double space = c.get_double("memory.virtual_space_gib") * kGiBytes;
  o.ranges_total = static_cast<int64_t>(std::min(std::floor(space / range_bytes), 1e9));
  if (o.ranges_total < 1) {
    c.fail("memory.virtual_space_gib",
           "holds no virtual range of " + std::to_string(range_bytes / kGiBytes) +
               " GiB (2 x layers x ceil(max_seq_len / tokens_per_page) x page_size)");
  }
  o.deferred_reclaim = c.get_bool("memory.deferred_reclaim");
  o.eager_pages = static_cast<int32_t>(c.get_int("memory.eager_alloc"));
  return o;
}

VirtualGeometry virtual_geometry(const VirtualOptions& o) {
  return VirtualGeometry{.page_bytes = o.page_bytes,
                         .tokens_per_page = o.tokens_per_page,
                         .num_pages = o.num_pages,
                         .pages_per_range = o.pages_per_range,
                         .ranges_total = o.ranges_total};
}

std::unique_ptr<KvCacheManager> make_virtual_kv_cache_manager(const MemoryConfig& config) {
  return make_virtual_manager(config, virtual_options(config));
}

void register_virtual(MemoryPolicyRegistry& registry) {
  registry.add({
      .name = "virtual",
      .factory = make_virtual_kv_cache_manager,
      .description = "vAttention: a virtually contiguous range per sequence reserved for the "
                     "context window, physical pages mapped on demand (memory.page_size, "
                     "memory.deferred_reclaim, memory.eager_alloc, memory.virtual_space_gib)",
      .keys = {string_key("memory.page_size", "2MiB",
                          "virtual: physical page per layer and K/V tensor: 64KiB, 128KiB, "
                          "256KiB or 2MiB (or the same in bytes)"),
               bool_key("memory.deferred_reclaim", false,
                        "virtual: keep a finished request's pages mapped for the next request "
                        "given its range (unmapped only when a page is needed elsewhere)"),
               int_key("memory.eager_alloc", 0, 0, 1 << 20,
                       "virtual: page groups mapped ahead of need when a sequence maps one "
                       "(from free pages only)"),
               float_key("memory.virtual_space_gib", "131072", 0.0, 1e12,
                         "virtual: address space for the ranges (128 TiB: a CUDA process's); "
                         "each range is 2 x layers x ceil(max_seq_len / tokens_per_page) "
                         "pages",
                         true, false),
               bool_key("memory.overlap_mapping", false,
                        "virtual: map pages in the background, overlapped with the step's "
                        "compute (the simulator hides mapping time behind gemm + attention)")},
      .traits = {.label =
                     [](const MemoryConfig& c) {
                       return "virtual(" + page_size_label(page_bytes_of(c)) + ")";
                     },
                 // One transfer per page: a range's pages sit anywhere in the pool.
                 .swap_unit_slots = [](const MemoryConfig& c) -> int64_t {
                   return std::max<int32_t>(1, virtual_tokens_per_page(c));
                 },
                 .prefix_caching = false,
                 .vmm_page_bytes = [](const MemoryConfig& c) { return page_bytes_of(c); },
                 .vmm_geometry =
                     [](const MemoryConfig& c) { return virtual_geometry(virtual_options(c)); }},
  });
}

}  // namespace kvlab
