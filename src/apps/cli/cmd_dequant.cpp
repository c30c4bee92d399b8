// `smallthinker dequant`: one tensor dequantized to raw float32 (ggml element order), for
// checking the engine's dequantization against an independent implementation.
#include <cstdio>

#include "apps/cli/command.h"
#include "smallthinker/tools.h"

namespace st::cli {
namespace {

const bool registered = register_command({"dequant", "write one tensor dequantized to raw float32", [](CLI::App& app) {
  auto model = std::make_shared<std::string>();
  auto tensor = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  app.add_option("-m,--model", *model, "GGUF file")->required();
  app.add_option("--tensor", *tensor, "tensor name")->required();
  app.add_option("-o,--output", *out, "output file")->required();
  return [model, tensor, out] {
    smallthinker::check_output_path(*out, {*model});
    const auto values = smallthinker::dequantize_tensor(*model, *tensor);
    smallthinker::write_output_file(
        *out, {reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)}, {*model});
    return 0;
  };
}});

}  // namespace
}  // namespace st::cli
