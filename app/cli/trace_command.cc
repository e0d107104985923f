#include <boost/program_options.hpp>
#include <iostream>

#include "app/cli/commands.h"
#include "app/cli/parse_options.h"
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
  std::string file;
  po::variables_map vm;
  switch (parse_options("kvlab trace stats", rest, options, "FILE", file, vm)) {
    case Parsed::kHelpShown: return 0;
    case Parsed::kUsageError: return 2;
    case Parsed::kRun: break;
  }
  std::cout << format_trace_stats(compute_trace_stats(file, format));
  return 0;
}

}  // namespace kvlab::cli
