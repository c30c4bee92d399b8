// smallthinker tokenize: shows how text is tokenized, and is the interface the JavaScript
// oracle test drives (one process for a whole corpus, via --lines or --jsonl).
//   smallthinker tokenize -m MODEL.gguf -p "Hello"          one line per token: id<TAB>'piece'
//   smallthinker tokenize -m MODEL.gguf -p "Hello" --ids    [9707]
//   smallthinker tokenize --tokenizer-json tokenizer.json -f corpus.txt --lines   one array per line
//   ... -f corpus.jsonl --jsonl        each input line is a JSON string (so text may hold "\n")
//   ... --roundtrip                    print decode(encode(text)) as a JSON string instead of ids
#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "apps/cli/command.h"
#include "apps/cli/common.h"
#include "formats/gguf.h"
#include "text/tokenizer.h"
#include "text/utf8.h"

namespace st::cli {
namespace {

struct Options {
  std::string model, tokenizer_json, prompt, file;
  bool have_prompt = false;  // -p given (an empty prompt is valid text)
  bool ids = false, no_special = false, lines = false, jsonl = false, roundtrip = false;
};

std::string read_all(const std::string& path) { return read_input_file(path, "input file"); }

// A token's bytes for a terminal: valid UTF-8 as is, quotes, backslashes and control bytes
// escaped, and bytes of a partial character (common in byte-level BPE) as \xNN.
std::string escape_piece(std::string_view bytes) {
  std::string out;
  size_t i = 0;
  while (i < bytes.size()) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    const size_t n = utf8::valid_sequence_length(bytes, i);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\'' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else if (c >= 0x80 && n > 0) {
      out.append(bytes.substr(i, n));
      i += n;
      continue;
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
    ++i;
  }
  return out;
}

std::string json_ids(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(ids[i]);
  }
  s += ']';
  return s;
}

std::string json_string(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Tokenizer load(const Options& o) {
  if (!o.tokenizer_json.empty()) return Tokenizer::from_hf_json(o.tokenizer_json);
  const auto file = GgufFile::open(o.model);
  return Tokenizer::from_gguf(*file);
}

int run(const Options& o) {
  if (o.model.empty() == o.tokenizer_json.empty()) throw std::runtime_error("give exactly one of -m MODEL or --tokenizer-json PATH");
  if (o.have_prompt == !o.file.empty()) throw std::runtime_error("give exactly one of -p TEXT or -f FILE");
  if ((o.lines || o.jsonl) && o.file.empty()) throw std::runtime_error("--lines and --jsonl read -f FILE");
  const Tokenizer tok = load(o);
  const bool parse_special = !o.no_special;

  // One item per line: ids (or the round trip) as one JSON value per output line.
  if (o.lines || o.jsonl) {
    std::istringstream in(read_all(o.file));
    std::string line, out;
    size_t line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      std::string text = line;
      if (o.jsonl) {
        try {
          text = nlohmann::json::parse(line).get<std::string>();
        } catch (const nlohmann::json::exception& e) {
          throw std::runtime_error(o.file + ":" + std::to_string(line_no) + ": not a JSON string: " + e.what());
        }
      }
      const auto ids = tok.encode(text, parse_special);
      out += o.roundtrip ? json_string(tok.decode(ids)) : json_ids(ids);
      out += '\n';
      if (out.size() > (1 << 16)) {
        std::fwrite(out.data(), 1, out.size(), stdout);
        out.clear();
      }
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
  }

  const std::string text = o.have_prompt ? o.prompt : read_all(o.file);
  const auto ids = tok.encode(text, parse_special);
  if (o.roundtrip) {
    std::cout << tok.decode(ids);
  } else if (o.ids) {
    std::cout << json_ids(ids) << '\n';
  } else {
    for (int32_t id : ids) std::cout << id << "\t'" << escape_piece(tok.token_bytes(id)) << "'\n";
  }
  return 0;
}

const bool registered = register_command({
    "tokenize",
    "Encode text with a model's tokenizer and print the token ids",
    [](CLI::App& sub) -> std::function<int()> {
      auto o = std::make_shared<Options>();
      sub.add_option("-m,--model", o->model, "GGUF model file whose tokenizer to use");
      sub.add_option("--tokenizer-json", o->tokenizer_json, "Hugging Face tokenizer.json instead of a model");
      CLI::Option* prompt = sub.add_option("-p,--prompt", o->prompt, "Text to encode");
      sub.add_option("-f,--file", o->file, "File to encode ('-' for standard input)")->excludes(prompt);
      sub.add_flag("--ids", o->ids, "Print only the ids, as one JSON array");
      sub.add_flag("--no-special", o->no_special, "Treat control tokens such as <|im_start|> as plain text");
      sub.add_flag("--lines", o->lines, "With -f: encode each line separately, one JSON array per line");
      sub.add_flag("--jsonl", o->jsonl, "With -f: each line is a JSON string to encode (texts with newlines)");
      sub.add_flag("--roundtrip", o->roundtrip, "Print decode(encode(text)) instead of ids");
      return [o, prompt] {
        o->have_prompt = prompt->count() > 0;
        return run(*o);
      };
    }});

}  // namespace
}  // namespace st::cli
