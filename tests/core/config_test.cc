#include "core/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "app/resolve_experiment.h"
#include "core/errors.h"

namespace kvlab {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Config, ParsesSectionsKeysAndComments) {
  const Config c = Config::parse(
      "# an experiment\n[memory]\npolicy = contiguous  # inline comment\nblock_size=32\n\n"
      "[scheduler]\n; another comment\nmax_num_seqs = 64\n",
      "exp.ini");
  EXPECT_EQ(c.get_string("memory.policy"), "contiguous");
  EXPECT_EQ(c.get_int("memory.block_size"), 32);
  EXPECT_EQ(c.get_int("scheduler.max_num_seqs"), 64);
  EXPECT_EQ(c.values().at("memory.block_size").line, 4);
}

TEST(Config, DefaultsComeFromTheSchema) {
  const Config c = Config::parse("", "x.ini");
  EXPECT_EQ(c.get_string("memory.policy"), "paged");
  EXPECT_EQ(c.get_int("memory.block_size"), 16);
  EXPECT_DOUBLE_EQ(c.get_double("hardware.gpu_memory_utilization"), 0.9);
  EXPECT_TRUE(c.get_bool("output.record_steps"));
}

TEST(Config, UnknownKeyNamesFileLineAndKnownKeys) {
  const std::string msg = error_of([] { Config::parse("[memory]\n\nblok_size = 4\n", "exp.ini"); });
  EXPECT_NE(msg.find("exp.ini:3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("memory.blok_size"), std::string::npos) << msg;
  EXPECT_NE(msg.find("block_size"), std::string::npos) << msg;
}

TEST(Config, UnknownKeySuggestsTheClosestKeyOfItsSection) {
  try {
    Config::parse("[memory]\n\nblok_size = 4\n", "exp.ini");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(e.source(), "exp.ini");
    EXPECT_EQ(e.line(), 3);
    EXPECT_EQ(e.field(), "memory.blok_size");
    EXPECT_EQ(e.reason(),
              "unknown key (did you mean 'memory.block_size'?; known in [memory]: policy, "
              "capacity_slots, swap_space_gb, kv_dtype, block_size, watermark, prefix_caching, "
              "eviction, reservation, placement, page_size, deferred_reclaim, eager_alloc, "
              "virtual_space_gib, overlap_mapping)");
  }
  // A key of another section, written in the wrong one.
  const std::string moved =
      error_of([] { Config::parse("[scheduler]\nblock_size = 4\n", "exp.ini"); });
  EXPECT_NE(moved.find("exp.ini:2: field 'scheduler.block_size': unknown key (did you mean "
                       "'memory.block_size'?; known in [scheduler]: batching, "),
            std::string::npos)
      << moved;
  // Nothing close: no suggestion, the known keys still listed.
  const std::string far = error_of([] { Config::parse("[scheduler]\nmax_seqs = 4\n", "exp.ini"); });
  EXPECT_NE(far.find("field 'scheduler.max_seqs': unknown key (known in [scheduler]: batching, "),
            std::string::npos)
      << far;
}

TEST(Config, UnknownSectionIsAnError) {
  const std::string msg = error_of([] { Config::parse("[memry]\npolicy = paged\n", "e.ini"); });
  EXPECT_NE(msg.find("e.ini:1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown section [memry]"), std::string::npos) << msg;
  EXPECT_EQ(error_of([] { Config::parse("[workload]\n[memroy]\n", "e.ini"); }),
            "e.ini:2: unknown section [memroy] (did you mean [memory]?; known sections: workload, "
            "model, hardware, memory, scheduler, backend, cluster, output, sweep)");
  EXPECT_EQ(error_of([] { Config::parse("[gpu]\n", "e.ini"); }),
            "e.ini:1: unknown section [gpu] (known sections: workload, model, hardware, memory, "
            "scheduler, backend, cluster, output, sweep)");
}

TEST(Config, OverridesOfUnknownKeysAndSectionsSuggest) {
  Config c = Config::parse("", "c.ini");
  try {
    c.set_override("memory.blok_size=8");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(e.source(), "--set");
    EXPECT_EQ(e.line(), 0);
    EXPECT_EQ(e.field(), "memory.blok_size");
    EXPECT_NE(
        e.reason().find("unknown key (did you mean 'memory.block_size'?; known in [memory]: "),
        std::string::npos)
        << e.what();
  }
  EXPECT_EQ(
      error_of([&] { c.set_override("memroy.block_size=8"); }),
      "--set: field 'memroy.block_size': unknown section 'memroy' (did you mean 'memory'?; "
      "known sections: workload, model, hardware, memory, scheduler, backend, cluster, output, sweep)");
  const std::string swept = error_of([&] { c.set_override("sweep.memory.polcy=a,b"); });
  EXPECT_NE(swept.find("--set: field 'memory.polcy': unknown key (did you mean 'memory.policy'?; "),
            std::string::npos)
      << swept;
}

TEST(Config, SyntaxErrorsNameTheLine) {
  EXPECT_NE(error_of([] { Config::parse("[memory\n", "a.ini"); }).find("a.ini:1"),
            std::string::npos);
  EXPECT_NE(error_of([] { Config::parse("[memory]\npolicy\n", "a.ini"); }).find("a.ini:2"),
            std::string::npos);
  EXPECT_NE(
      error_of([] { Config::parse("policy = paged\n", "a.ini"); }).find("outside any [section]"),
      std::string::npos);
  const std::string dup =
      error_of([] { Config::parse("[memory]\npolicy=a\npolicy=b\n", "a.ini"); });
  EXPECT_NE(dup.find("a.ini:3"), std::string::npos) << dup;
  EXPECT_NE(dup.find("first on line 2"), std::string::npos) << dup;
}

TEST(Config, TypedGettersRejectBadValuesWithTheirOrigin) {
  const Config c = Config::parse(
      "[memory]\nblock_size = sixteen\n[workload]\nrate = 1e999\n"
      "[output]\nrecord_steps = maybe\n",
      "b.ini");
  const std::string a = error_of([&] { c.get_int("memory.block_size"); });
  EXPECT_NE(a.find("b.ini:2"), std::string::npos) << a;
  EXPECT_NE(a.find("'sixteen' is not an integer"), std::string::npos) << a;
  try {
    c.get_int("memory.block_size");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(e.source(), "b.ini");
    EXPECT_EQ(e.line(), 2);
    EXPECT_EQ(e.field(), "memory.block_size");
    EXPECT_EQ(e.reason(), "'sixteen' is not an integer");
  }
  EXPECT_NE(error_of([&] { c.get_double("workload.rate"); }).find("b.ini:4"), std::string::npos);
  EXPECT_NE(error_of([&] { c.get_bool("output.record_steps"); }).find("b.ini:6"),
            std::string::npos);
}

TEST(Config, OverridesReplaceValuesAndPinSweptKeys) {
  Config c =
      Config::parse("[memory]\npolicy = paged\n[sweep]\nmemory.block_size = 8, 16\n", "c.ini");
  c.set_override("memory.policy=contiguous");
  EXPECT_EQ(c.get_string("memory.policy"), "contiguous");
  EXPECT_EQ(c.values().at("memory.policy").origin, "--set");
  ASSERT_EQ(c.sweep().size(), 1u);
  c.set_override("memory.block_size=32");
  EXPECT_TRUE(c.sweep().empty());
  c.set_override("sweep.scheduler.max_num_seqs=1,2,3");
  ASSERT_EQ(c.sweep().size(), 1u);
  EXPECT_EQ(c.sweep()[0].values.size(), 3u);
  EXPECT_NE(error_of([&] { c.set_override("memory.nope=1"); }).find("unknown key"),
            std::string::npos);
  EXPECT_NE(error_of([&] { c.set_override("novalue"); }).find("section.key=value"),
            std::string::npos);
}

TEST(Config, SweepListsKeepTheirOrderAndRejectUnknownKeys) {
  const Config c =
      Config::parse("[sweep]\nmemory.policy = paged, contiguous\nworkload.rate = 1,2,4\n", "s.ini");
  ASSERT_EQ(c.sweep().size(), 2u);
  EXPECT_EQ(c.sweep()[0].name(), "memory.policy");
  EXPECT_EQ(c.sweep()[1].values, (std::vector<std::vector<std::string>>{{"1"}, {"2"}, {"4"}}));
  EXPECT_NE(error_of([] { Config::parse("[sweep]\nmemory.polcy = a\n", "s.ini"); }).find("s.ini:2"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              Config::parse("[sweep]\nmemory.policy = a,,b\n", "s.ini");
            }).find("empty value"),
            std::string::npos);
}

TEST(Config, LoadRemembersTheDirectoryForRelativePaths) {
  const std::string path = testing::TempDir() + "/kvlab_config_test.ini";
  std::ofstream(path) << "[workload]\ntrace = data/t.csv\n";
  const Config c = Config::load(path);
  EXPECT_EQ(c.base_dir(), path.substr(0, path.find_last_of('/')));
  EXPECT_NE(error_of([] { Config::load("/nonexistent/x.ini"); }).find("cannot open"),
            std::string::npos);
}

TEST(Config, SplitAndTrim) {
  EXPECT_EQ(split_list(" a, b ,c"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(trim("  x \t"), "x");
  EXPECT_EQ(trim("   "), "");
}

// Values that once ran silently changed (issue 15): integers narrowed to 32 bits after a
// range check on the 64-bit value, floats so large that derived times or slot counts overflow.
// Each key's declared range now refuses them, naming the key and --set.
TEST(ConfigValues, OutOfRangeValuesAreRefusedBeforeAnyNarrowing) {
  for (const char* assignment :
       {"scheduler.max_num_seqs=4294967297", "model.tensor_parallel=4294967297",
        "model.max_seq_len=4294967312", "scheduler.chunk_size=4294967298",
        "hardware.gpus_per_node=4294967304", "memory.block_size=4294967312",
        "backend.top_k=4294967296", "memory.swap_space_gb=1e300", "hardware.kv_cache_gb=1e30",
        "workload.time_scale=1e300", "workload.rate=1e300", "workload.burstiness=1e300"}) {
    Config c;
    c.set_override(assignment);
    const std::string key = std::string(assignment).substr(0, std::string(assignment).find('='));
    const std::string message = error_of([&] { resolve_experiment(c); });
    EXPECT_NE(message.find("--set: field '" + key + "': must be"), std::string::npos)
        << assignment << ": " << message;
  }
}

TEST(ConfigValues, AnEmptySweepAxisIsRefused) {
  Config c;
  EXPECT_NE(error_of([&] {
              c.set_override("sweep.memory.block_size=");
            }).find("field 'sweep.memory.block_size': no values to sweep"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              Config::parse("[sweep]\nmemory.block_size =\n", "x.ini");
            }).find("x.ini:2: field 'sweep.memory.block_size': no values to sweep"),
            std::string::npos);
}

TEST(ConfigFile, ADirectoryIsNotAConfigAndAByteOrderMarkIsSkipped) {
  const std::string dir = ::testing::TempDir() + "kvlab_config_dir";
  std::filesystem::create_directories(dir);
  EXPECT_EQ(error_of([&] { Config::load(dir); }), dir + ": is a directory, not a config file");

  const std::string path = ::testing::TempDir() + "kvlab_bom.ini";
  std::ofstream(path) << "\xEF\xBB\xBF[memory]\nblock_size = 32\n";
  const Config c = Config::load(path);
  EXPECT_EQ(c.get_int("memory.block_size"), 32);
}

}  // namespace
}  // namespace kvlab
