// smallthinker: the command-line tool. A thin layer: every subcommand lives in cmd_<name>.cpp
// and calls libsmallthinker; errors from the library are printed here, once.
#include <cstdio>
#include <exception>
#include <cstring>
#include <memory>
#include <vector>

#include "apps/cli/command.h"

namespace st::cli {
namespace {
std::vector<Command>& registry() {
  static std::vector<Command> commands;
  return commands;
}
}  // namespace

bool register_command(Command command) {
  registry().push_back(std::move(command));
  return true;
}

}  // namespace st::cli

namespace {
// llama.cpp spells some options with one dash and several letters, which CLI11 would read as
// a cluster of one-letter flags: they are renamed to their long forms before parsing.
std::vector<char*> llama_spellings(int argc, char** argv) {
  static const char* const kRenames[][2] = {{"-ctk", "--cache-type-k"}, {"-ctv", "--cache-type-v"}};
  std::vector<char*> out(argv, argv + argc);
  for (auto& a : out)
    for (const auto& r : kRenames)
      if (std::strcmp(a, r[0]) == 0) a = const_cast<char*>(r[1]);
  return out;
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"smallthinker: runs SmallThinker mixture-of-experts models on the CPU, inside a memory budget"};
  app.require_subcommand(1);
  std::function<int()> to_run;
  for (auto& command : st::cli::registry()) {
    CLI::App* sub = app.add_subcommand(command.name, command.help);
    auto run = std::make_shared<std::function<int()>>(command.setup(*sub));
    sub->callback([run, &to_run] { to_run = *run; });
  }
  try {
    auto args = llama_spellings(argc, argv);
    app.parse(argc, args.data());
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    return to_run ? to_run() : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
