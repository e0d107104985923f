// Embedding kvlab: build an engine from an experiment file and generate from token ids, the
// way a program would use vLLM's LLM.generate. Run by the tests:
//   generate_example experiments/cpu_tiny.ini
#include <cstdio>
#include <exception>
#include <vector>

#include "core/errors.h"
#include "app/llm.h"

namespace {

void print(const char* title, const std::vector<kvlab::GenerateOutput>& outputs) {
  std::printf("%s\n", title);
  for (const kvlab::GenerateOutput& out : outputs) {
    for (size_t s = 0; s < out.samples.size(); ++s) {
      std::printf("  prompt %lld sample %zu (%zu tokens, ttft %.4f s):", static_cast<long long>(out.id), s,
                  out.samples[s].size(), out.first_token_s);
      for (int32_t t : out.samples[s]) std::printf(" %d", t);
      std::printf("\n");
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: generate_example CONFIG.ini\n");
    return 2;
  }
  try {
    const std::vector<std::vector<int32_t>> prompts = {{1, 2, 3, 4, 5}, {42, 17, 99}, {7, 7, 7, 7, 7, 7, 7, 7}};

    kvlab::LLM paged = kvlab::LLM::from_file(argv[1]);
    kvlab::GenerationParams greedy;
    greedy.max_tokens = 12;
    const auto a = paged.generate(prompts, greedy);
    print("greedy, paged:", a);

    // The same prompts with contiguous memory: greedy tokens do not depend on the policy.
    kvlab::LLM contiguous =
        kvlab::LLM::from_file(argv[1], {"memory.policy=contiguous", "memory.reservation=oracle"});
    const auto b = contiguous.generate(prompts, greedy);
    for (size_t i = 0; i < a.size(); ++i) {
      if (a[i].samples != b[i].samples) {
        std::fprintf(stderr, "prompt %zu: paged and contiguous disagree\n", i);
        return 1;
      }
    }
    std::printf("greedy, contiguous: identical to paged\n");

    kvlab::GenerationParams sampled = greedy;
    sampled.n = 2;
    sampled.sampling.temperature = 0.9f;
    sampled.sampling.top_p = 0.95f;
    sampled.sampling.seed = 1234;
    print("temperature 0.9, top-p 0.95, n = 2:", paged.generate(prompts, sampled));
    std::printf("digest of the last run: %016llx, %g steps\n",
                static_cast<unsigned long long>(paged.last_run().output_digest),
                paged.last_run().summary.get("num_steps"));
    return 0;
  } catch (const kvlab::InputError& e) {
    std::fprintf(stderr, "generate_example: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "generate_example: internal error: %s\n", e.what());
    return 3;
  }
}
