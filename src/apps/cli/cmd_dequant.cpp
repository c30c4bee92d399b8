// `smallthinker dequant`: one tensor dequantized to raw float32 (ggml element order), for
// checking the engine's dequantization against an independent implementation.
#include <cstdio>
#include <fstream>
#include <stdexcept>

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
    const auto values = smallthinker::dequantize_tensor(*model, *tensor);
    std::ofstream f(*out, std::ios::binary);
    f.write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(values.size() * sizeof(float)));
    if (!f) throw std::runtime_error("writing " + *out + " failed");
    return 0;
  };
}});

}  // namespace
}  // namespace st::cli
