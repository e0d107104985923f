// The kvlab command line: the quickstart at a reduced size, outputs, and bad input (clear
// error naming file, line and field; non-zero exit; no result file).
#include <gtest/gtest.h>

#include <fstream>

#include "tests/e2e/e2e_util.h"

namespace kvlab {
namespace {

using e2e::file_exists;
using e2e::run_command;
using e2e::temp_path;
using e2e::write_file;

std::string kvlab() { return e2e::kvlab_binary(); }

TEST(Cli, HelpAndList) {
  const auto help = run_command(kvlab() + " --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("run CONFIG.ini [--set"), std::string::npos);
  EXPECT_EQ(run_command(kvlab() + " run --help").exit_code, 0);
  const auto list = run_command(kvlab() + " list");
  EXPECT_EQ(list.exit_code, 0) << list.output;
  for (const char* name :
       {"paged", "contiguous", "continuous", "static", "opt-13b", "h100-sxm-80gb", "length-csv",
        "azure-csv", "sim", "memory.block_size"}) {
    EXPECT_NE(list.output.find(name), std::string::npos) << name;
  }
  EXPECT_EQ(run_command(kvlab() + " list nonsense").exit_code, 2);
  EXPECT_EQ(run_command(kvlab() + " frobnicate").exit_code, 2);
}

TEST(Cli, QuickstartAtReducedSizeWritesResults) {
  const std::string out = temp_path("cli_quickstart.h5"), json = temp_path("cli_quickstart.json");
  std::remove(out.c_str());
  const auto r =
      run_command(kvlab() + " run " + e2e::source_path("experiments/quickstart.ini") +
                  " --set workload.num_requests=150 --out " + out + " --summary-json " + json);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The table names points by their display labels (docs/config.md, [sweep] labels).
  EXPECT_NE(r.output.find("\nvLLM (paged, 16) "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\nOrca (Max) "), std::string::npos) << r.output;
  EXPECT_TRUE(file_exists(json));
  EXPECT_EQ(e2e::read_attr(out, "points/0000", "num_requests"), 150);
  EXPECT_EQ(e2e::read_column(out, "points/0001/requests/id").size(), 150u);
  EXPECT_FALSE(e2e::read_column(out, "points/0000/steps/kv_token_states").empty());
}

struct BadInput {
  const char* name;
  std::string ini;       // the experiment file's text ({TRACE} is replaced by a trace path)
  std::string trace;     // a trace file's text, or empty
  std::string expected;  // must appear in the error ({FILE}, {TRACE} replaced)
};

class CliBadInput : public testing::TestWithParam<BadInput> {};

TEST_P(CliBadInput, FailsClearlyAndWritesNothing) {
  const BadInput& b = GetParam();
  const std::string dir = temp_path(std::string("bad_") + b.name);
  std::system(("mkdir -p " + dir).c_str());
  const std::string ini = dir + "/exp.ini", trace = dir + "/trace.csv", out = dir + "/out.h5";
  auto fill = [&](std::string s) {
    for (auto [key, value] :
         {std::pair<std::string, std::string>{"{TRACE}", trace}, {"{FILE}", ini}}) {
      for (size_t at; (at = s.find(key)) != std::string::npos;) s.replace(at, key.size(), value);
    }
    return s;
  };
  if (!b.trace.empty()) write_file(trace, b.trace);
  write_file(ini, fill(b.ini));
  const auto r =
      run_command(kvlab() + " run " + ini + " --out " + out + " --summary-json " + dir + "/s.json");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(fill(b.expected)), std::string::npos) << r.output;
  EXPECT_FALSE(file_exists(out));
  EXPECT_FALSE(file_exists(out + ".partial"));
  EXPECT_FALSE(file_exists(dir + "/s.json"));
}

const std::string kWorkload = "[workload]\ntrace = {TRACE}\nformat = length-csv\n";
const std::string kGoodTrace = "num_prefill_tokens,num_decode_tokens\n10,5\n20,8\n";

INSTANTIATE_TEST_SUITE_P(
    Cases, CliBadInput,
    testing::Values(
        BadInput{"unknown_policy", kWorkload + "[memory]\npolicy = pagged\n", kGoodTrace,
                 "{FILE}:5: field 'memory.policy': unknown memory policy 'pagged' (did you mean "
                 "'paged'?; known: "},
        BadInput{"unknown_key", kWorkload + "[scheduler]\nmax_seqs = 4\n", kGoodTrace,
                 "{FILE}:5: field 'scheduler.max_seqs': unknown key"},
        BadInput{
            "misspelled_key", kWorkload + "[memory]\nblok_size = 8\n", kGoodTrace,
            "{FILE}:5: field 'memory.blok_size': unknown key (did you mean 'memory.block_size'?; "
            "known in [memory]: policy, capacity_slots, "},
        BadInput{
            "unknown_section", kWorkload + "[memroy]\nblock_size = 8\n", kGoodTrace,
            "{FILE}:4: unknown section [memroy] (did you mean [memory]?; known sections: workload, "
            "model, hardware, memory, scheduler, backend, cluster, output, sweep)"},
        BadInput{"bad_number", kWorkload + "[memory]\nblock_size = 16x\n", kGoodTrace,
                 "{FILE}:5: field 'memory.block_size'"},
        BadInput{"bad_block_size", kWorkload + "[memory]\nblock_size = 1024\n", kGoodTrace,
                 "{FILE}:5: field 'memory.block_size'"},
        BadInput{"unknown_scheduler", kWorkload + "[scheduler]\nbatching = greedy\n", kGoodTrace,
                 "{FILE}:5: field 'scheduler.batching'"},
        BadInput{"unknown_backend", kWorkload + "[backend]\nkind = tpu\n", kGoodTrace,
                 "{FILE}:5: field 'backend.kind'"},
        BadInput{"malformed_row", kWorkload, "num_prefill_tokens,num_decode_tokens\n10,5\n20,abc\n",
                 "{TRACE}:3"},
        BadInput{"negative_length", kWorkload, "num_prefill_tokens,num_decode_tokens\n10,5\n-4,3\n",
                 "{TRACE}:3"},
        BadInput{"missing_column", kWorkload, "num_prefill_tokens,num_decode_tokens\n10\n",
                 "{TRACE}:2"},
        BadInput{"empty_trace", kWorkload, "num_prefill_tokens,num_decode_tokens\n", "{TRACE}"},
        BadInput{"missing_trace", "[workload]\ntrace = /nonexistent/t.csv\n", "",
                 "/nonexistent/t.csv"},
        BadInput{"model_too_big",
                 kWorkload + "[model]\nname = llama-2-70b\n[hardware]\nname = a10g\n", kGoodTrace,
                 "no room for a KV cache"},
        BadInput{"bad_sweep_key", kWorkload + "[sweep]\nmemory.polcy = a, b\n", kGoodTrace,
                 "{FILE}:5: field 'memory.polcy'"},
        BadInput{"bad_swept_value",
                 kWorkload + "arrival = burst\n[sweep]\nmemory.block_size = 16, 1024\n", kGoodTrace,
                 "{FILE}:6: field 'memory.block_size'"},
        BadInput{
            "zipped_tuple_too_short",
            kWorkload + "[sweep]\nmemory.policy + memory.reservation = contiguous:max, paged\n",
            kGoodTrace, "{FILE}:5: field 'sweep.memory.policy + memory.reservation'"},
        BadInput{
            "zipped_key_swept_twice",
            kWorkload +
                "[sweep]\nmemory.policy = paged\nmemory.policy+memory.reservation = paged:max\n",
            kGoodTrace, "swept twice (also in sweep.memory.policy on line 5)"}),
    [](const testing::TestParamInfo<BadInput>& info) { return std::string(info.param.name); });

TEST(Cli, BadCommandLinesAreUsageErrors) {
  EXPECT_EQ(run_command(kvlab() + " run").exit_code, 2);
  EXPECT_EQ(run_command(kvlab() + " run x.ini --bogus").exit_code, 2);
  const auto r = run_command(kvlab() + " run " + e2e::source_path("experiments/quickstart.ini") +
                             " --set memory.nope=1 --out " + temp_path("never.h5"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("memory.nope"), std::string::npos) << r.output;
  EXPECT_FALSE(file_exists(temp_path("never.h5")));
}

// Where results go is checked before anything runs, and by --check (issue 15, item 7): a
// missing folder, a folder or a device as the target, a summary JSON that cannot be written.
TEST(Cli, UnwritableOutputsAreRefusedBeforeTheRun) {
  const std::string exp = e2e::source_path("experiments/quickstart.ini");
  const std::string good = temp_path("never_written.h5");
  const std::pair<std::string, std::string> cases[] = {
      {"--out /nonexistent_kvlab/dir/x.h5",
       "/nonexistent_kvlab/dir/x.h5: field '--out': the folder /nonexistent_kvlab/dir does not "
       "exist"},
      {"--out /nonexistent_kvlab/dir/x.h5 --check", "field '--out': the folder"},
      {"--out /dev/null", "/dev/null: field '--out': exists and is not a regular file"},
      {"--out " + good + " --summary-json /nonexistent_kvlab/s.json",
       "/nonexistent_kvlab/s.json: field '--summary-json': the folder /nonexistent_kvlab does not "
       "exist"},
  };
  for (const auto& [options, expected] : cases) {
    const auto r =
        run_command(kvlab() + " run " + exp + " --set workload.num_requests=10 " + options);
    EXPECT_EQ(r.exit_code, 1) << options << "\n" << r.output;
    EXPECT_NE(r.output.find(expected), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("internal error"), std::string::npos) << r.output;
    EXPECT_FALSE(file_exists(good)) << options;
  }
}

// A misspelled name on the command line: exit 1, the error blames --set and suggests the name.
TEST(Cli, MisspelledOverridesSuggestTheKnownName) {
  const std::string out = temp_path("never_misspelled.h5");
  const std::pair<const char*, const char*> cases[] = {
      {"memory.policy=pagd",
       "--set: field 'memory.policy': unknown memory policy 'pagd' (did you mean 'paged'?; "
       "known: "},
      {"memory.blok_size=8",
       "--set: field 'memory.blok_size': unknown key (did you mean 'memory.block_size'?; known in "
       "[memory]: policy, capacity_slots, "},
      {"memroy.block_size=8",
       "--set: field 'memroy.block_size': unknown section 'memroy' (did you mean 'memory'?; known "
       "sections: workload, "},
      {"model.name=opt-13", "unknown model 'opt-13' (did you mean 'opt-13b'?; known: "},
      {"hardware.name=a100-40g", "unknown hardware 'a100-40g' (did you mean 'a100-40gb'?; known: "},
      {"workload.format=length-cvs",
       "unknown trace format 'length-cvs' (did you mean 'length-csv'?; known: "},
      {"workload.arrival=poison", "(did you mean 'poisson'?)"},
      {"scheduler.preemption=recomput", "(did you mean 'recompute'?; known: "},
      {"hardware.topology=pcei", "(did you mean 'pcie'?)"},
      {"output.pth=x", "unknown key (did you mean 'output.path'?; known in [output]: path, "},
  };
  for (const auto& [assignment, expected] : cases) {
    const auto r = run_command(kvlab() + " run " + e2e::source_path("experiments/quickstart.ini") +
                               " --set " + assignment + " --out " + out);
    EXPECT_EQ(r.exit_code, 1) << assignment << "\n" << r.output;
    EXPECT_NE(r.output.find(expected), std::string::npos) << r.output;
    EXPECT_FALSE(file_exists(out)) << assignment;
  }
}

TEST(Cli, MisspelledCommandsAndListsSuggestTheKnownName) {
  const auto command = run_command(kvlab() + " rnu x.ini");
  EXPECT_EQ(command.exit_code, 2);
  EXPECT_NE(command.output.find("unknown command 'rnu' (did you mean 'run'?; known: run, "),
            std::string::npos)
      << command.output;
  const auto list = run_command(kvlab() + " list modles");
  EXPECT_EQ(list.exit_code, 2);
  EXPECT_NE(list.output.find("unknown list 'modles' (did you mean 'models'?; known: "),
            std::string::npos)
      << list.output;
}

TEST(Cli, UnknownSectionsInAFileListTheKnownOnes) {
  const std::string dir = temp_path("unknown_section");
  std::system(("mkdir -p " + dir).c_str());
  write_file(dir + "/exp.ini", "[workload]\nnum_requests = 5\n[schedular]\nmax_num_seqs = 4\n");
  const auto r = run_command(kvlab() + " run " + dir + "/exp.ini --check");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(dir + "/exp.ini:3: unknown section [schedular] (did you mean "
                                "[scheduler]?; known sections: workload, model, hardware, memory, "
                                "scheduler, backend, cluster, output, sweep)"),
            std::string::npos)
      << r.output;
}

TEST(Cli, QuietRunsPrintNothing) {
  const std::string out = temp_path("cli_quiet.h5");
  const auto r = run_command(kvlab() + " run " + e2e::source_path("experiments/quickstart.ini") +
                             " -q --set workload.num_requests=50 --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "");
  EXPECT_TRUE(file_exists(out));
}

TEST(Cli, CheckValidatesEveryPointAndWritesNothing) {
  const std::string out = temp_path("check_never.h5"), json = temp_path("check_never.json");
  std::remove(out.c_str());
  const std::string base = kvlab() + " run " + e2e::source_path("experiments/memory_waste.ini") +
                           " --check --out " + out + " --summary-json " + json;
  const auto ok = run_command(
      base +
      " --set 'sweep.memory.policy+memory.reservation=contiguous:max,contiguous:oracle,paged:max'");
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("check passed: 3 point(s)"), std::string::npos) << ok.output;
  EXPECT_NE(ok.output.find("contiguous(oracle)"), std::string::npos) << ok.output;
  EXPECT_NE(ok.output.find("paged(block 16)"), std::string::npos) << ok.output;
  // opt-13b with 12 GiB: 15,728 slots (the vLLM paper's Table 1).
  EXPECT_NE(ok.output.find("15728"), std::string::npos) << ok.output;
  EXPECT_NE(ok.output.find("rows read"), std::string::npos) << ok.output;
  EXPECT_FALSE(file_exists(out));
  EXPECT_FALSE(file_exists(json));
  // A bad value in the last point fails the check before anything runs.
  const auto bad = run_command(base + " --set sweep.memory.block_size=16,512");
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_NE(bad.output.find("memory.block_size"), std::string::npos) << bad.output;
  EXPECT_EQ(bad.output.find("check passed"), std::string::npos) << bad.output;
  EXPECT_FALSE(file_exists(out));
}

TEST(Cli, SweepDatasetsAreTheSameWithAnyJobsAndAsMergedShards) {
  const std::string base =
      kvlab() + " run " + e2e::source_path("experiments/quickstart.ini") +
      " -q --set workload.num_requests=120 --set sweep.memory.block_size=8,32 ";
  const std::string one = temp_path("sweep_j1.h5"), two = temp_path("sweep_j2.h5");
  const std::string s0 = temp_path("sweep_s0.h5"), s1 = temp_path("sweep_s1.h5"),
                    s2 = temp_path("sweep_s2.h5");
  const std::string merged = temp_path("sweep_merged.h5");
  ASSERT_EQ(run_command(base + "--jobs 1 --out " + one).exit_code, 0);
  ASSERT_EQ(run_command(base + "--jobs 2 --out " + two).exit_code, 0);
  ASSERT_EQ(run_command(base + "--shard 0/3 --out " + s0).exit_code, 0);
  ASSERT_EQ(run_command(base + "--shard 1/3 --out " + s1).exit_code, 0);
  ASSERT_EQ(run_command(base + "--shard 2/3 --out " + s2).exit_code, 0);
  const auto merge = run_command(kvlab() + " merge " + merged + " " + s2 + " " + s0 + " " + s1);
  ASSERT_EQ(merge.exit_code, 0) << merge.output;
  const auto reference = e2e::dataset_hashes(one);
  // 4 points x (15 request columns + 20 step columns and the cost terms + 1 workload).
  EXPECT_GE(reference.size(), 4u * 36u);
  EXPECT_EQ(e2e::dataset_hashes(two), reference);
  EXPECT_EQ(e2e::dataset_hashes(merged), reference);
  // A missing or duplicated shard is an error, and nothing is written.
  const std::string bad = temp_path("sweep_bad.h5");
  EXPECT_EQ(run_command(kvlab() + " merge " + bad + " " + s0 + " " + s1).exit_code, 1);
  EXPECT_EQ(
      run_command(kvlab() + " merge " + bad + " " + s0 + " " + s0 + " " + s1 + " " + s2).exit_code,
      1);
  EXPECT_FALSE(file_exists(bad));
}

TEST(Cli, TraceStatsOnAShippedSample) {
  const auto r = run_command(kvlab() + " trace stats " +
                             e2e::source_path("traces/data/azure_conv_sample.csv"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("4000"), std::string::npos) << r.output;
  EXPECT_EQ(run_command(kvlab() + " trace stats /nonexistent.csv").exit_code, 1);
  // Percentiles and a log-spaced histogram of each length.
  EXPECT_NE(r.output.find("tokens          mean       min       p50       p90       p99       max"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("prompt tokens      count\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("  [   1024,    2048) "), std::string::npos) << r.output;
}

TEST(Cli, TraceStatsPlotWritesAPng) {
  const std::string png = temp_path("trace_stats.png");
  std::remove(png.c_str());
  const auto r = run_command(kvlab() + " trace stats " +
                             e2e::source_path("traces/data/sharegpt_lengths_sample.csv") +
                             " --plot " + png);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("wrote " + png), std::string::npos) << r.output;
  std::ifstream in(png, std::ios::binary);
  char magic[8] = {};
  in.read(magic, 8);
  EXPECT_EQ(std::string(magic + 1, 3), "PNG");
}

// A BurstGPT-format file and the same requests as a generic CSV and JSONL with
// workload.columns: read by `trace stats` and run end to end.
TEST(Cli, BurstGptAndColumnMappedTracesRun) {
  const std::string dir = temp_path("mapped_traces");
  std::system(("mkdir -p " + dir).c_str());
  std::string burst = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n";
  std::string jsonl;
  for (int i = 0; i < 40; ++i) {
    const int prompt = 100 + 37 * i, output = i == 7 ? 0 : 20 + 5 * i;
    burst += std::to_string(i / 2.0) + ",ChatGPT," + std::to_string(prompt) + "," +
             std::to_string(output) + "," + std::to_string(prompt + output) +
             ",Conversation log\n";
    if (output > 0) {
      jsonl += "{\"t_ms\": " + std::to_string(i * 500) + ", \"in\": " + std::to_string(prompt) +
               ", \"out\": " + std::to_string(output) + "}\n";
    }
  }
  write_file(dir + "/BurstGPT_sample.csv", burst);
  write_file(dir + "/mapped.jsonl", jsonl);
  const auto stats = run_command(kvlab() + " trace stats " + dir + "/BurstGPT_sample.csv");
  ASSERT_EQ(stats.exit_code, 0) << stats.output;
  EXPECT_NE(stats.output.find("(burstgpt-csv)"), std::string::npos) << stats.output;
  EXPECT_NE(stats.output.find("rows    39"), std::string::npos) << stats.output;
  EXPECT_NE(stats.output.find("dropped 1 (failed requests: Response tokens 0)"), std::string::npos)
      << stats.output;
  const auto mapped_stats =
      run_command(kvlab() + " trace stats " + dir + "/mapped.jsonl --columns 'arrival:t_ms, " +
                  "prompt:in, output:out' --arrival-unit ms");
  ASSERT_EQ(mapped_stats.exit_code, 0) << mapped_stats.output;
  EXPECT_NE(mapped_stats.output.find("(jsonl)"), std::string::npos) << mapped_stats.output;
  EXPECT_NE(mapped_stats.output.find("span    19.5 s"), std::string::npos) << mapped_stats.output;

  const std::string base = kvlab() + " run " + e2e::source_path("experiments/quickstart.ini") +
                           " -q --set workload.num_requests=0 --set sweep.memory.policy=paged ";
  const std::string a = temp_path("burst.h5"), b = temp_path("burst_mapped.h5"),
                    c = temp_path("jsonl_mapped.h5");
  const auto named = run_command(base + "--set workload.trace=" + dir +
                                 "/BurstGPT_sample.csv --out " + a);
  ASSERT_EQ(named.exit_code, 0) << named.output;
  const auto as_csv = run_command(
      base + "--set workload.trace=" + dir + "/BurstGPT_sample.csv --set workload.format=csv " +
      "--set 'workload.columns=arrival:Timestamp, prompt:Request tokens, output:Response tokens' " +
      "--set workload.on_bad_row=skip --out " + b);
  ASSERT_EQ(as_csv.exit_code, 0) << as_csv.output;
  const auto as_jsonl = run_command(
      base + "--set workload.trace=" + dir + "/mapped.jsonl " +
      "--set 'workload.columns=arrival:t_ms, prompt:in, output:out' " +
      "--set workload.arrival_unit=ms --out " + c);
  ASSERT_EQ(as_jsonl.exit_code, 0) << as_jsonl.output;
  // The same 39 requests at the same times: the same requests table.
  const auto arrivals = e2e::read_column(a, "points/0000/requests/arrival_s");
  ASSERT_EQ(arrivals.size(), 39u);
  EXPECT_EQ(e2e::read_column(b, "points/0000/requests/arrival_s"), arrivals);
  EXPECT_EQ(e2e::read_column(c, "points/0000/requests/arrival_s"), arrivals);
  EXPECT_EQ(e2e::read_column(c, "points/0000/requests/prompt_len"),
            e2e::read_column(a, "points/0000/requests/prompt_len"));
  // A misspelled column is named with the header's line.
  const auto bad = run_command(base + "--set workload.trace=" + dir + "/BurstGPT_sample.csv " +
                               "--set 'workload.columns=prompt:Request token, output:Response "
                               "tokens' --out " + a);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("BurstGPT_sample.csv:1: field 'Request token': column missing from "
                            "the header (did you mean 'Request tokens'?; format csv needs "),
            std::string::npos)
      << bad.output;
}

}  // namespace
}  // namespace kvlab
