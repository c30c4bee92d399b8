// `smallthinker replay`: a recorded routing trace through the expert cache alone, for every
// policy at several cache sizes -- the curve a user reads to choose --memory, in milliseconds.
#include <cstdio>
#include <sstream>

#include "apps/cli/command.h"
#include "smallthinker/engine.h"

namespace st::cli {
namespace {

const bool registered = register_command({"replay", "replay a routing trace through the expert cache policies", [](CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto shares = std::make_shared<std::string>("0.1,0.2,0.3,0.5,0.75");
  app.add_option("trace", *path, "trace file written with --routing-trace")->required();
  app.add_option("--shares", *shares, "cache sizes as shares of all experts")->capture_default_str();
  return [path, shares] {
    std::vector<double> s;
    std::stringstream ss(*shares);
    for (std::string item; std::getline(ss, item, ',');) s.push_back(std::stod(item));
    std::printf("%-12s %-8s %-8s %s\n", "policy", "share", "slots", "hit rate");
    for (const auto& r : smallthinker::replay_routing_trace(*path, s))
      std::printf("%-12s %-8.2f %-8d %.3f\n", r.policy.c_str(), r.cache_share, r.slots, r.hit_rate);
    return 0;
  };
}});

}  // namespace
}  // namespace st::cli
