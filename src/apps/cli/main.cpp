// smallthinker: the command-line tool. A thin layer: every subcommand lives in cmd_<name>.cpp
// and calls libsmallthinker; errors from the library are printed here, once.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "apps/cli/command.h"
#include "apps/cli/llama_flags.h"

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
  app.set_version_flag("--version", "smallthinker " ST_VERSION);
  app.name("smallthinker");
  try {
    // llama.cpp's flags (-ngl, -sys, -cnv, ...) first become ours, or notes, or clear errors.
    st::cli::TranslatedArgs t = st::cli::translate_llama_flags(std::vector<std::string>(argv + 1, argv + argc), app);
    for (const auto& note : t.notes) std::fprintf(stderr, "note: %s\n", note.c_str());
    std::reverse(t.args.begin(), t.args.end());  // CLI11 takes a vector last argument first
    app.parse(t.args);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  try {
    return to_run ? to_run() : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
