// smallthinker template render: renders a chat template (Jinja) with given variables; the
// interface of the @huggingface/jinja oracle test (tests/jinja_js), and a way to see the exact
// prompt a template makes.
//   smallthinker template render --template T.jinja --json CASE.json
//       CASE.json is the template's variables: {"messages": [...], "add_generation_prompt": true,
//       "tools": [...], "bos_token": "...", "enable_thinking": false, ...}; prints the prompt.
//   smallthinker template render --jsonl CASES.jsonl
//       one case per line, {"template": "<source>", "context": {...}}; prints one JSON line per
//       case: {"text": "..."} or {"error": "..."} (one process for a whole corpus).
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "apps/cli/command.h"
#include "text/jinja/template.h"

namespace st::cli {
namespace {

struct Options {
  std::string template_file, json_file, jsonl_file;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

nlohmann::ordered_json parse_json(const std::string& text, const std::string& what) {
  auto j = nlohmann::ordered_json::parse(text, nullptr, false);
  if (j.is_discarded()) throw std::runtime_error(what + ": not valid JSON");
  return j;
}

int run_batch(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    const auto c = parse_json(line, path + " line " + std::to_string(n));
    nlohmann::ordered_json out;
    try {
      const jinja::Template t(c.at("template").get<std::string>());
      out["text"] = t.render(c.at("context"));
    } catch (const jinja::TemplateError& e) {
      out["error"] = e.what();
    }
    std::cout << out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
  }
  return 0;
}

int run(const Options& o) {
  if (!o.jsonl_file.empty()) return run_batch(o.jsonl_file);
  if (o.template_file.empty() || o.json_file.empty())
    throw std::runtime_error("template render needs --template FILE and --json CASE.json (or --jsonl CASES.jsonl)");
  const jinja::Template t(read_file(o.template_file));
  std::cout << t.render(parse_json(read_file(o.json_file), o.json_file));
  return 0;
}

const bool registered = register_command({
    "template",
    "Chat templates: `template render` prints the prompt a Jinja chat template makes",
    [](CLI::App& sub) -> std::function<int()> {
      auto o = std::make_shared<Options>();
      sub.require_subcommand(1);
      CLI::App* render = sub.add_subcommand("render", "Render a chat template with variables from JSON");
      render->add_option("--template", o->template_file, "Jinja template file");
      render->add_option("--json", o->json_file, "JSON object with the template's variables");
      render->add_option("--jsonl", o->jsonl_file, "Batch: one {\"template\", \"context\"} object per line");
      return [o] { return run(*o); };
    }});

}  // namespace
}  // namespace st::cli
