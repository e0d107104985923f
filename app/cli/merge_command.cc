#include <iostream>

#include "app/cli/commands.h"
#include "app/results_writer.h"

namespace kvlab::cli {

int merge_command(const std::vector<std::string>& args, const std::string& command_line) {
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    std::cout << "usage: kvlab merge OUT.h5 SHARD.h5...\n"
                 "joins the shards of one sweep (kvlab run --shard I/N) into the file a single\n"
                 "run would have written; fails if a point is missing or duplicated.\n";
    return 0;
  }
  if (args.size() < 2) {
    std::cerr << "usage: kvlab merge OUT.h5 SHARD.h5...\n";
    return 2;
  }
  const std::vector<std::string> shards(args.begin() + 1, args.end());
  merge_results_hdf5(args[0], shards, command_line);
  std::cout << "wrote " << args[0] << " from " << shards.size() << " shard(s)\n";
  return 0;
}

}  // namespace kvlab::cli
