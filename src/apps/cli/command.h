// Subcommands register themselves here (one file per subcommand, cmd_<name>.cpp), so adding a
// command touches no other file. main.cpp builds the CLI11 app from the registry.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace st::cli {

// `setup` declares the subcommand's options on `sub` and returns the function that runs it
// (called after parsing; returns the process exit code).
using CommandSetup = std::function<std::function<int()>(CLI::App& sub)>;

struct Command {
  std::string name;
  std::string help;
  CommandSetup setup;
};

// Called from a static initialiser in each cmd_*.cpp: `static const bool reg = register_command({...});`
bool register_command(Command command);

}  // namespace st::cli
