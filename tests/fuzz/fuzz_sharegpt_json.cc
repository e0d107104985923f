// libFuzzer harness: the ShareGPT JSON readers (sharegpt-json and its vLLM-pruned variant),
// bad entries refused and skipped. Seeds: corpus/fuzz_sharegpt_json/.
#include "app/builtins.h"
#include "tests/fuzz/fuzz_util.h"
#include "traces/read_trace.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kvlab::register_builtins();
  const std::string path = kvlab::fuzz::write_input(kvlab::fuzz::as_text(data, size), ".json");
  for (const char* format : {"sharegpt-json", "sharegpt-json-vllm"}) {
    for (const bool skip : {false, true}) {
      kvlab::fuzz::expect_read_or_refused(
          [&] { kvlab::read_trace(path, format, kvlab::TraceReadOptions{.skip_bad_rows = skip}); });
    }
  }
  return 0;
}
