// kvlab bench-sim: how fast the simulator replays a trace at saturation (all requests arrive
// at time 0), in simulated requests per minute of wall time on one core. The target is
// 1,000,000 per minute on the 30,731-request ShareGPT length trace.
#include <sys/resource.h>
#include <time.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/cli/commands.h"
#include "app/cluster_setup.h"
#include "app/output_files.h"
#include "app/resolve_experiment.h"
#include "app/results_writer.h"
#include "core/config.h"
#include "core/engine.h"
#include "core/experiment.h"
#include "core/kv_cache_manager.h"
#include "core/workload.h"
#include "traces/workload_loader.h"

namespace po = boost::program_options;

namespace kvlab::cli {

namespace {
// CPU time of this thread: what the replay cost, whatever else the machine is doing.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}
}  // namespace

int bench_sim_command(const std::vector<std::string>& args) {
  po::options_description options("kvlab bench-sim [options]");
  std::string trace, model, hardware, json;
  std::vector<std::string> policies, sets;
  int64_t requests = 30731;
  int repeat = 3;
  int64_t replicas = 1;
  std::string router = "round_robin";
  double rate = 0;
  options.add_options()("help,h", "this help")(
      "trace", po::value<std::string>(&trace)->default_value(""),
      "length trace (default: the shipped ShareGPT sample)")(
      "requests", po::value<int64_t>(&requests)->default_value(30731),
      "requests to replay; the trace is cycled when it is shorter")(
      "model", po::value<std::string>(&model)->default_value("llama-2-7b"), "model")(
      "hardware", po::value<std::string>(&hardware)->default_value("a100-80gb"), "hardware")(
      "policy", po::value<std::vector<std::string>>(&policies)->composing(),
      "memory policy to time (repeatable; default: paged and contiguous)")(
      "set", po::value<std::vector<std::string>>(&sets)->composing(), "any config override")(
      "repeat", po::value<int>(&repeat)->default_value(3), "timed runs per policy (best is kept)")(
      "replicas", po::value<int64_t>(&replicas)->default_value(1),
      "replicas of a cluster (core/cluster.h), each with the same settings")(
      "router", po::value<std::string>(&router)->default_value("round_robin"),
      "the cluster's router (cluster.router)")(
      "rate", po::value<double>(&rate)->default_value(0),
      "Poisson arrivals at this many requests/s (0: all at time 0, saturation)")(
      "json", po::value<std::string>(&json), "also write the results as JSON");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(options).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "kvlab bench-sim: " << e.what() << "\n" << options;
    return 2;
  }
  if (vm.count("help")) {
    std::cout << options;
    return 0;
  }
  // Where the JSON goes is checked before the runs, not after.
  if (!json.empty()) check_output_path(json, "--json");
  if (policies.empty()) policies = memory_policies().names();  // every registered policy
  if (trace.empty()) trace = std::string(KVLAB_SOURCE_DIR) + "/traces/data/sharegpt_lengths_sample.csv";

  nlohmann::ordered_json runs = nlohmann::ordered_json::array();
  std::printf("%-12s %10s %10s %10s %10s %16s %16s %10s %12s\n", "policy", "requests", "steps",
              "wall s", "cpu s", "req/min (wall)", "req/min (cpu)", "sim s", "max RSS MiB");
  for (size_t p = 0; p < policies.size(); ++p) {
    Config config = Config::parse("", "bench-sim");
    config.set("workload.trace", trace);
    config.set("workload.arrival", "burst");
    config.set("model.name", model);
    config.set("hardware.name", hardware);
    config.set("memory.policy", policies[p]);
    config.set("output.record_steps", "true");
    config.set("cluster.replicas", std::to_string(replicas));
    config.set("cluster.router", router);
    if (rate > 0) {
      config.set("workload.arrival", "poisson");
      config.set("workload.rate", std::to_string(rate));
    }
    for (const std::string& s : sets) config.set_override(s);
    const ExperimentConfig e = resolve_experiment(config);
    const Workload w = load_workload(e.workload);
    if (w.requests.empty()) throw InputError(trace, 0, "", "no requests to replay");
    std::vector<RequestSpec> specs;
    specs.reserve(static_cast<size_t>(requests));
    for (int64_t i = 0; i < requests; ++i) {
      RequestSpec r = w.requests[static_cast<size_t>(i) % w.requests.size()];
      r.id = i;
      r.arrival_s = 0;
      specs.push_back(std::move(r));
    }
    if (rate > 0) {  // the trace's Poisson arrivals, continued past its end at the same rate
      const double span = w.requests.back().arrival_s;
      for (int64_t i = 0; i < requests; ++i) {
        const auto k = static_cast<size_t>(i) % w.requests.size();
        const int64_t lap = i / static_cast<int64_t>(w.requests.size());
        specs[static_cast<size_t>(i)].arrival_s =
            w.requests[k].arrival_s + static_cast<double>(lap) * (span + 1.0 / rate);
      }
    }
    const ClusterSetup setup = resolve_cluster(config, e);
    double best = 1e300, best_cpu = 1e300;
    RunResult result;
    for (int rep = 0; rep < std::max(1, repeat); ++rep) {
      const std::unique_ptr<Cluster> cluster = make_cluster(setup, e, false);
      const auto t0 = std::chrono::steady_clock::now();
      const double c0 = thread_cpu_seconds();
      result = cluster->run(specs);
      best_cpu = std::min(best_cpu, thread_cpu_seconds() - c0);
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    const double per_min = requests / best * 60.0, per_min_cpu = requests / best_cpu * 60.0;
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const double rss_mib = static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux: KiB
    std::printf("%-12s %10lld %10zu %10.3f %10.3f %16.0f %16.0f %10.1f %12.0f\n",
                policies[p].c_str(), static_cast<long long>(requests), result.steps.size(), best,
                best_cpu, per_min, per_min_cpu, result.summary.get("duration_s"), rss_mib);
    runs.push_back({{"policy", policies[p]},
                    {"requests", requests},
                    {"steps", result.steps.size()},
                    {"wall_s", best},
                    {"cpu_s", best_cpu},
                    {"requests_per_min_wall", per_min},
                    {"requests_per_min_cpu", per_min_cpu},
                    {"replicas", replicas},
                    {"max_rss_mib", rss_mib}});
  }
  if (!json.empty()) write_file_atomically(json, json_text(runs), "--json");
  return 0;
}

}  // namespace kvlab::cli
