// llama.cpp's command lines, pasted: its single-dash multi-letter flags (-ngl, -sys, -fa, -cnv,
// -np, ...) would otherwise be split by CLI11 into one-letter flags with a value ("-sys" ->
// "-s ys"), with baffling errors. Before CLI11 sees argv, each llama.cpp flag becomes its
// counterpart here, is dropped with a note when it has no effect on a CPU engine, or is
// refused naming what to use instead. Our own options always win: a flag a subcommand defines
// itself (bench's -r, run's -p) is never rewritten. Any other single-dash word ("-xyz": one
// dash, two letters or more) is refused naming it, never split. `--version` anywhere (not as
// a value) prints the version, as after no subcommand.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace st::cli {

struct TranslatedArgs {
  std::vector<std::string> args;   // argv without the program name, ready for CLI11
  std::vector<std::string> notes;  // "-ngl 99: ignored: ..." for stderr
};

// `args`: argv[1..]. `app`: the main CLI11 app with every subcommand registered. With no
// subcommand and a flag first (llama-cli's shape), `run` is assumed; llama.cpp's conversation
// flags (-cnv, -i) turn `run` into `chat`. Throws std::invalid_argument for llama.cpp flags
// with no counterpart here (-hf, --grammar, ...), naming the alternative.
TranslatedArgs translate_llama_flags(std::vector<std::string> args, const CLI::App& app);

}  // namespace st::cli
