// `kvlab profile`: measures a real back end's operators over a grid and writes a profile file
// for the profiled cost model. `kvlab fidelity`: runs an experiment on the real back end and on
// the simulator with a profile of it, and reports how far apart they are (app/fidelity.h).
#include <boost/program_options.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "app/cli/commands.h"
#include "app/cli/parse_options.h"
#include "app/experiment_runner.h"
#include "app/fidelity.h"
#include "app/output_files.h"
#include "app/results_writer.h"
#include "core/config.h"
#include "core/errors.h"
#include "sim/profile_file.h"
#include "sim/profile_fit.h"

namespace po = boost::program_options;

namespace kvlab::cli {

namespace {

// "1,2,4" -> {1, 2, 4}; each a number >= 0, strictly increasing.
std::vector<double> parse_points(const std::string& text, const std::string& option) {
  std::vector<double> out;
  if (text.empty()) return out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      size_t used = 0;
      const double v = std::stod(item, &used);
      if (used != item.size() || !(v >= 0) || (!out.empty() && !(v > out.back()))) throw 0;
      out.push_back(v);
    } catch (...) {
      throw InputError(option, 0, "", "'" + text +
                                          "' is not a list of increasing numbers >= 0 "
                                          "separated by commas");
    }
  }
  return out;
}

struct GridOptions {
  std::string tokens, batch, context, chunk, slots, block_sizes;
  int repeats = 15;
  int fit_steps = 120;

  void add_to(po::options_description& options) {
    options.add_options()("tokens", po::value<std::string>(&tokens),
                          "token counts (GEMMs, norms, cache writes): 1,2,4,... (default: up "
                          "to scheduler.max_batched_tokens)")(
        "batch", po::value<std::string>(&batch),
        "decode batch sizes (default: up to scheduler.max_num_seqs)")(
        "context", po::value<std::string>(&context),
        "context lengths for attention (default: up to model.max_seq_len)")(
        "chunk", po::value<std::string>(&chunk), "prefill chunk sizes (default: like --tokens)")(
        "slots", po::value<std::string>(&slots),
        "KV copy and swap sizes (default: up to 2 x model.max_seq_len)")(
        "block-sizes", po::value<std::string>(&block_sizes),
        "paged layouts to profile (default: 16 and memory.block_size)")(
        "repeats", po::value<int>(&repeats)->default_value(15),
        "timed calls per grid point (after one warm-up)")(
        "fit-steps", po::value<int>(&fit_steps)->default_value(120),
        "whole synthetic steps run to fit the per-step overhead");
  }

  ProfileGrid grid() const {
    ProfileGrid g;
    g.tokens = parse_points(tokens, "--tokens");
    g.batch = parse_points(batch, "--batch");
    g.context = parse_points(context, "--context");
    g.chunk = parse_points(chunk, "--chunk");
    g.slots = parse_points(slots, "--slots");
    for (double b : parse_points(block_sizes, "--block-sizes")) {
      if (b < 1 || b != static_cast<int32_t>(b)) {
        throw InputError("--block-sizes", 0, "", "block sizes must be whole numbers >= 1");
      }
      g.block_sizes.push_back(static_cast<int32_t>(b));
    }
    for (const auto* axis : {&g.tokens, &g.batch, &g.context, &g.chunk, &g.slots}) {
      if (!axis->empty() && axis->front() < 1) {
        throw InputError("--tokens/--batch/--context/--chunk/--slots", 0, "",
                         "grid points must be >= 1");
      }
    }
    if (repeats < 3) throw InputError("--repeats", 0, "", "must be at least 3");
    if (fit_steps < 10) throw InputError("--fit-steps", 0, "", "must be at least 10");
    g.repeats = repeats;
    g.fit_steps = fit_steps;
    return g;
  }
};

// The experiment's first point (a profile is of one model and back end; every point must share
// them).
PreparedPoint first_point(const std::string& path, const std::vector<std::string>& sets) {
  Config config = Config::load(path);
  for (const std::string& s : sets) config.set_override(s);
  std::vector<PreparedPoint> points = prepare_experiment(config, Shard{});
  return std::move(points.front());
}

std::string command_line(const std::string& name, const std::vector<std::string>& args) {
  std::string s = "kvlab " + name;
  for (const std::string& a : args) s += " " + a;
  return s;
}

void print_profile(const OperatorProfile& p) {
  std::printf("profile of the %s back end on %s: model %s, KV %s, %zu tables, %d repeats\n",
              p.backend.c_str(), p.device.c_str(), p.model.name.c_str(), p.kv_dtype.c_str(),
              p.tables.size(), p.repeats);
  for (const ProfileOverhead& o : p.overheads) {
    std::string scales;
    for (int c = 0; c < kNumOperatorClasses; ++c) {
      char text[64];
      std::snprintf(text, sizeof text, "%s%s x %.3f", c == 0 ? "" : ", ",
                    operator_class_name(static_cast<OperatorClass>(c)), o.operator_scale[c]);
      scales += text;
    }
    std::printf("%s: fit over %lld whole steps: operators (%s) + %.2f us + %.3f us/sequence + "
                "%.4f us/token (median error of the steps' prediction %.1f%%)\n",
                o.layout.c_str(), static_cast<long long>(o.fit_steps), scales.c_str(),
                1e6 * o.base_s, 1e6 * o.per_sequence_s, 1e6 * o.per_token_s,
                100 * o.fit_median_rel_error);
  }
}

}  // namespace

int profile_command(const std::vector<std::string>& args) {
  po::options_description options("kvlab profile CONFIG.ini --out PROFILE.json [options]");
  std::vector<std::string> sets;
  std::string out, refit;
  GridOptions grid;
  options.add_options()("help,h", "this help")(
      "set", po::value<std::vector<std::string>>(&sets)->composing(),
      "override a key: --set section.key=value (repeatable)")(
      "out", po::value<std::string>(&out), "the profile file to write (JSON)")(
      "refit", po::value<std::string>(&refit),
      "measure nothing: refit PROFILE.json's per-step overhead and operator scales from the "
      "whole steps it stores, and write it to --out (may be the same file)");
  grid.add_to(options);
  std::string config_path;
  po::variables_map vm;
  switch (parse_options("kvlab profile", args, options, "CONFIG.ini", config_path, vm,
                        "\nTimes the operators of the experiment's real back end (backend.kind = "
                        "cpu) for its model\nover a grid and writes a profile for "
                        "backend.cost_model = profiled (docs/results-format.md).\n")) {
    case Parsed::kHelpShown: return 0;
    case Parsed::kUsageError: return 2;
    case Parsed::kRun: break;
  }
  if (out.empty()) throw InputError("--out", 0, "", "kvlab profile needs --out PROFILE.json");
  check_output_path(out, "--out");
  const PreparedPoint point = first_point(config_path, sets);
  OperatorProfile p;
  if (!refit.empty()) {
    for (const char* option :
         {"tokens", "batch", "context", "chunk", "slots", "block-sizes", "repeats", "fit-steps"}) {
      if (vm.count(option) > 0 && !vm[option].defaulted()) {
        throw InputError(std::string("--") + option, 0, "",
                         "--refit measures nothing: a grid option has nothing to change");
      }
    }
    p = read_profile(refit);
    if (p.fit_steps.empty()) {
      throw InputError(refit, 0, "measured_steps",
                       "the profile stores no measured whole steps to refit from (written "
                       "before 2026-12-06): take it again with kvlab profile");
    }
    check_profile_matches(p, point.config, "--refit");
    fit_profile_overhead(point.config, &p);
    p.command += " (overheads refitted by " + command_line("profile", args) + ")";
  } else {
    p = make_profile(point.config, grid.grid(), command_line("profile", args));
  }
  print_profile(p);
  write_file_atomically(out, profile_to_json(p), "--out");
  std::printf("wrote %s\n", out.c_str());
  return 0;
}

namespace {

void print_pair(const char* name, const RelativeError& e, double scale, const char* unit) {
  std::printf("%-18s %12.4g %12.4g %8.1f%%  %s\n", name, e.real * scale, e.sim * scale,
              100 * e.error(), unit);
}

nlohmann::ordered_json pair_json(const RelativeError& e) {
  return {{"real", e.real}, {"sim", e.sim}, {"error", e.error()}};
}

// Each real run's steps, measured and priced.
nlohmann::ordered_json steps_json(const std::vector<std::vector<FidelityReport::Step>>& runs) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const std::vector<FidelityReport::Step>& steps : runs) {
    nlohmann::ordered_json& run = out.emplace_back(nlohmann::ordered_json::array());
    for (const FidelityReport::Step& s : steps) {
      run.push_back({{"prefill_seqs", s.prefill_seqs},
                   {"prefill_tokens", s.prefill_tokens},
                   {"decode_seqs", s.decode_seqs},
                   {"measured_s", s.measured_s},
                   {"predicted_s", s.predicted_s}});
    }
  }
  return out;
}

}  // namespace

int fidelity_command(const std::vector<std::string>& args) {
  po::options_description options("kvlab fidelity CONFIG.ini [options]");
  std::vector<std::string> sets;
  std::string out, profile_path, save_profile;
  double scale = 1.0;
  int skip = 1;
  int real_runs = 5;
  GridOptions grid;
  options.add_options()("help,h", "this help")(
      "set", po::value<std::vector<std::string>>(&sets)->composing(),
      "override a key: --set section.key=value (repeatable)")(
      "profile", po::value<std::string>(&profile_path),
      "the profile to simulate with (default: profile the back end first)")(
      "save-profile", po::value<std::string>(&save_profile),
      "write the profile taken first to this file")(
      "scale", po::value<double>(&scale)->default_value(1.0),
      "multiply every profiled time by this (a deliberately wrong profile: 2)")(
      "skip-steps", po::value<int>(&skip)->default_value(1),
      "leave the first N real steps out of the step errors (warm-up)")(
      "real-runs", po::value<int>(&real_runs)->default_value(5),
      "runs on the real back end; its summary figures are their medians, and so is each "
      "step's measured time when the runs execute the same steps")(
      "out", po::value<std::string>(&out), "also write the report as JSON");
  grid.add_to(options);
  std::string config_path;
  po::variables_map vm;
  switch (parse_options(
      "kvlab fidelity", args, options, "CONFIG.ini", config_path, vm,
      "\nRuns each point of the experiment on its real back end (backend.kind = cpu) and on the "
      "simulator\nwith the profiled cost model, and reports per-step time error (median, p90), "
      "throughput,\nTTFT and TPOT (median, p99) errors, and whether the memory breakdown is "
      "identical step for step.\nTargets (docs/reproduction.md, Fidelity): median step error, "
      "throughput and median latencies within 5%.\n")) {
    case Parsed::kHelpShown: return 0;
    case Parsed::kUsageError: return 2;
    case Parsed::kRun: break;
  }
  if (!(scale > 0)) throw InputError("--scale", 0, "", "must be > 0");
  if (skip < 0) throw InputError("--skip-steps", 0, "", "must not be negative");
  if (real_runs < 1) throw InputError("--real-runs", 0, "", "must be at least 1");
  if (!out.empty()) check_output_path(out, "--out");
  if (!save_profile.empty()) check_output_path(save_profile, "--save-profile");
  const ProfileGrid g = grid.grid();

  Config config = Config::load(config_path);
  for (const std::string& s : sets) config.set_override(s);
  const std::vector<PreparedPoint> points = prepare_experiment(config, Shard{});
  nlohmann::ordered_json reports = nlohmann::ordered_json::array();
  bool all_met = true;
  for (size_t k = 0; k < points.size(); ++k) {
    const PreparedPoint& p = points[k];
    OperatorProfile profile;
    if (!profile_path.empty()) {
      profile = read_profile(profile_path);
    } else {
      profile = make_profile(p.config, g, command_line("fidelity", args));
      if (!save_profile.empty() && k == 0) {
        write_file_atomically(save_profile, profile_to_json(profile), "--save-profile");
      }
    }
    if (scale != 1.0) profile = scaled_profile(std::move(profile), scale);
    const std::vector<RequestSpec> requests = requests_for_backend(p.config, p.workload->requests);
    const FidelityReport r = measure_fidelity(p.config, requests, profile, skip, real_runs);

    if (k > 0) std::printf("\n");
    std::printf("fidelity of the profiled simulator against the %s back end%s%s (profile: %s, "
                "%s%s)\n",
                p.config.backend.kind.c_str(), p.point.label.empty() ? "" : ", point ",
                p.point.label.c_str(), profile.device.c_str(), profile.date.c_str(),
                scale != 1.0 ? ", scaled" : "");
    std::printf("steps: %lld real (x %d runs), %lld simulated; %lld priced (first %d of each "
                "run skipped); %lld simulated steps off the profiled grid\n",
                static_cast<long long>(r.steps_real), r.real_runs, static_cast<long long>(r.steps_sim),
                static_cast<long long>(r.steps_priced), skip,
                static_cast<long long>(r.out_of_range_steps));
    std::printf("per-step error: median %.1f%%, p90 %.1f%%; total predicted / measured %.3f%s\n",
                100 * r.step_error_median, 100 * r.step_error_p90, r.step_total_ratio,
                r.real_runs == 1     ? ""
                : r.steps_aligned ? " (each step's median over the runs)"
                                  : " (the runs' steps differ: pooled)");
    if (r.steps_aligned && r.real_runs > 1) {
      std::printf("real runs: a step's times spread by %.1f%% (median over steps of "
                  "(slowest - fastest) / median)%s\n",
                  100 * r.real_step_spread,
                  r.real_step_spread > 0.05
                      ? ": the machine moved the timings while they were measured (other "
                        "processes?); errors of that size are not the profile's"
                      : "");
    }
    std::printf("%-18s %12s %12s %9s\n", "", "real", "simulated", "error");
    print_pair("throughput", r.throughput_tok_s, 1, "tokens/s");
    print_pair("duration", r.duration_s, 1, "s");
    print_pair("TTFT p50", r.ttft_p50_s, 1e3, "ms");
    print_pair("TTFT p99", r.ttft_p99_s, 1e3, "ms");
    print_pair("TPOT p50", r.tpot_p50_s, 1e3, "ms");
    print_pair("TPOT p99", r.tpot_p99_s, 1e3, "ms");
    std::printf("preemptions: %lld real, %lld simulated\n",
                static_cast<long long>(r.real_preemptions),
                static_cast<long long>(r.sim_preemptions));
    if (r.memory_identical) {
      std::printf("memory breakdown: identical at every one of %lld steps\n",
                  static_cast<long long>(r.memory_steps_compared));
    } else {
      std::printf("memory breakdown: differs from step %lld (%s)\n",
                  static_cast<long long>(r.first_difference),
                  r.batch_differs_first
                      ? "the batches differ there: arrivals met the two clocks at different "
                        "steps"
                      : "same batch, different memory: a policy that depends on the back end");
    }
    const bool met = r.step_error_median <= 0.05 && std::abs(r.throughput_tok_s.error()) <= 0.05 &&
                     std::abs(r.ttft_p50_s.error()) <= 0.05 &&
                     std::abs(r.tpot_p50_s.error()) <= 0.05;
    all_met = all_met && met;
    std::printf("5%% targets (median step error, throughput, TTFT p50, TPOT p50): %s\n",
                met ? "met" : "MISSED");
    reports.push_back({{"label", p.point.label},
                       {"backend", p.config.backend.kind},
                       {"profile_device", profile.device},
                       {"profile_date", profile.date},
                       {"profile_scale", scale},
                       {"real_runs", r.real_runs},
                       {"steps_real", r.steps_real},
                       {"steps_sim", r.steps_sim},
                       {"steps_aligned", r.steps_aligned},
                       {"steps_priced", r.steps_priced},
                       {"real_step_spread", r.real_step_spread},
                       {"out_of_range_steps", r.out_of_range_steps},
                       {"step_error_median", r.step_error_median},
                       {"step_error_p90", r.step_error_p90},
                       {"step_total_ratio", r.step_total_ratio},
                       {"throughput_tok_s", pair_json(r.throughput_tok_s)},
                       {"duration_s", pair_json(r.duration_s)},
                       {"ttft_p50_s", pair_json(r.ttft_p50_s)},
                       {"ttft_p99_s", pair_json(r.ttft_p99_s)},
                       {"tpot_p50_s", pair_json(r.tpot_p50_s)},
                       {"tpot_p99_s", pair_json(r.tpot_p99_s)},
                       {"preemptions_real", r.real_preemptions},
                       {"preemptions_sim", r.sim_preemptions},
                       {"memory_identical", r.memory_identical},
                       {"memory_steps_compared", r.memory_steps_compared},
                       {"memory_first_difference", r.first_difference},
                       {"targets_met", met},
                       {"run_steps", steps_json(r.run_steps)}});
  }
  if (!out.empty()) {
    const nlohmann::ordered_json doc = {{"config", config_path},
                                        {"targets_met", all_met},
                                        {"points", std::move(reports)}};
    write_file_atomically(out, json_text(doc), "--out");
    std::printf("wrote %s\n", out.c_str());
  }
  return 0;
}

}  // namespace kvlab::cli
