// The command line of a kvlab subcommand that takes options and one positional argument
// (kvlab run CONFIG.ini, kvlab calibrate CONFIG.ini, kvlab trace stats FILE).
#pragma once

#include <boost/program_options.hpp>
#include <iostream>
#include <string>
#include <vector>

namespace kvlab::cli {

enum class Parsed { kRun, kHelpShown, kUsageError };

// Parses `args` against `options` plus one positional argument, stored in `positional`.
// --help prints `options` (and `help_text`) on stdout: kHelpShown. A bad option or a missing
// positional argument prints "COMMAND: why" and `options` on stderr: kUsageError (exit 2).
inline Parsed parse_options(const std::string& command, const std::vector<std::string>& args,
                            const boost::program_options::options_description& options,
                            const std::string& positional_name, std::string& positional,
                            boost::program_options::variables_map& vm,
                            const std::string& help_text = "") {
  namespace po = boost::program_options;
  po::options_description hidden;
  hidden.add_options()("kvlab-positional", po::value<std::string>(&positional));
  po::positional_options_description order;
  order.add("kvlab-positional", 1);
  po::options_description all;
  all.add(options).add(hidden);
  try {
    po::store(po::command_line_parser(args).options(all).positional(order).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << command << ": " << e.what() << "\n" << options;
    return Parsed::kUsageError;
  }
  if (vm.count("help")) {
    std::cout << options << help_text;
    return Parsed::kHelpShown;
  }
  if (positional.empty()) {
    std::cerr << command << ": missing " << positional_name << "\n" << options;
    return Parsed::kUsageError;
  }
  return Parsed::kRun;
}

}  // namespace kvlab::cli
