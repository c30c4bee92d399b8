// Options shared by the subcommands that run a model, named as llama.cpp names them so
// users' habits carry over (-m, -t, -c, -b, --temp, --top-k, ...).
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "smallthinker/engine.h"

namespace st::cli {

struct ModelArgs {
  smallthinker::ModelOptions model;
  smallthinker::SessionOptions session;
  std::string gating;
  int64_t window = 0;
  bool kv_f32 = false;

  void add_to(CLI::App& app);
  std::shared_ptr<smallthinker::Model> load() const;  // prints warnings to stderr
  smallthinker::SessionOptions session_options() const;
};

// -ctk/--cache-type-k and -ctv/--cache-type-v (llama.cpp's names); a name outside f32, f16,
// bf16, q8_0, q4_0 is refused with the list.
void add_kv_type_options(CLI::App& app, std::string& k, std::string& v);

struct SamplingArgs {
  smallthinker::SamplingOptions s;
  int64_t seed = -1;
  void add_to(CLI::App& app);
  smallthinker::SamplingOptions options() const;
};

// Commands written `cmd MODEL FILE` (stats, perplexity, eval) also accept `cmd -m MODEL FILE`:
// `positional` holds what was given without a flag; returns FILE and sets model.path when the
// model came positionally. Throws with the usage when the count does not fit.
std::string model_and_file(ModelArgs& args, const std::vector<std::string>& positional, const std::string& usage);

// "1,2,3" -> {1, 2, 3}; throws naming the bad element.
std::vector<int32_t> parse_token_list(const std::string& text);

}  // namespace st::cli
