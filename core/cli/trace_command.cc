#include <boost/program_options.hpp>
#include <iostream>

#include "core/cli/commands.h"
#include "traces/trace_stats.h"

namespace po = boost::program_options;

namespace kvlab::cli {

int trace_command(const std::vector<std::string>& args) {
  po::options_description options("kvlab trace stats FILE [options]");
  std::string format = "auto";
  options.add_options()("help,h", "this help")(
      "format", po::value<std::string>(&format)->default_value("auto"),
      "trace format (kvlab list formats)");
  if (args.empty() || args[0] != "stats") {
    if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
      std::cout << "usage: kvlab trace stats FILE [--format F]\n";
      return 0;
    }
    std::cerr << "usage: kvlab trace stats FILE [--format F]\n";
    return 2;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  po::options_description hidden;
  std::string file;
  hidden.add_options()("file", po::value<std::string>(&file));
  po::positional_options_description positional;
  positional.add("file", 1);
  po::options_description all;
  all.add(options).add(hidden);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(rest).options(all).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "kvlab trace stats: " << e.what() << "\n" << options;
    return 2;
  }
  if (vm.count("help")) {
    std::cout << options;
    return 0;
  }
  if (file.empty()) {
    std::cerr << "kvlab trace stats: missing FILE\n" << options;
    return 2;
  }
  std::cout << format_trace_stats(compute_trace_stats(file, format));
  return 0;
}

}  // namespace kvlab::cli
