// Multiple-choice log-likelihood evaluation (docs/EVAL.md): each choice is scored by the
// log-probability the model gives its tokens as a continuation of the question, the way
// MMLU-style harnesses score multiple choice without generating anything.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "api/log_prob.h"
#include "smallthinker/engine.h"
#include "smallthinker/tools.h"
#include "text/json_bounded.h"

namespace smallthinker {
namespace {

int parse_answer(const nlohmann::json& a, size_t n_choices, const std::string& where) {
  int index = -1;
  if (a.is_number_integer()) {
    index = a.get<int>();
  } else if (a.is_string() && a.get<std::string>().size() == 1 && a.get<std::string>()[0] >= 'A' &&
             a.get<std::string>()[0] <= 'Z') {
    index = a.get<std::string>()[0] - 'A';
  } else {
    throw std::invalid_argument(where + ": \"answer\" must be a choice index (0, 1, ...) or a letter (\"A\", \"B\", ...)");
  }
  if (index < 0 || static_cast<size_t>(index) >= n_choices)
    throw std::invalid_argument(where + ": \"answer\" " + a.dump() + " does not name one of the " +
                                std::to_string(n_choices) + " choices");
  return index;
}

// The tokens of `question` and of the choice as its continuation. The two texts are joined
// with one space unless the question already ends in whitespace or the choice starts with
// it; trailing spaces of the question move to the choice (a BPE vocabulary attaches a space
// to the word after it, so " Paris" is one token where "Paris" after "is " would not be).
// The choice's tokens are those the joined text has beyond the question's own tokens, so a
// choice is scored exactly as the model would read the whole text.
struct EncodedChoice {
  std::vector<int32_t> context, continuation;
};
EncodedChoice encode_choice(const Model& model, std::string question, std::string choice) {
  size_t end = question.find_last_not_of(" \t");
  end = end == std::string::npos ? 0 : end + 1;
  choice = question.substr(end) + choice;
  question.resize(end);
  const bool joined = question.empty() || std::isspace(static_cast<unsigned char>(question.back())) ||
                      choice.empty() || std::isspace(static_cast<unsigned char>(choice.front()));
  if (!joined) choice = " " + choice;
  EncodedChoice out;
  out.context = model.tokenize(question, /*parse_special=*/false);
  const std::vector<int32_t> whole = model.tokenize(question + choice, false);
  if (whole.size() > out.context.size() && std::equal(out.context.begin(), out.context.end(), whole.begin()))
    out.continuation.assign(whole.begin() + static_cast<std::ptrdiff_t>(out.context.size()), whole.end());
  else  // the last question token merged with the choice: tokenize the choice on its own
    out.continuation = model.tokenize(choice, false);
  return out;
}

double accuracy_stderr(double p, size_t n) {
  // Standard error of a mean of n 0/1 outcomes, with the sample variance (n - 1).
  return n > 1 ? std::sqrt(p * (1 - p) / static_cast<double>(n - 1)) : 0.0;
}

}  // namespace

std::vector<ChoiceItem> load_choice_task(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
    throw std::runtime_error("the task file " + path + " is not a regular file (a directory, FIFO or device)");
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot open the task file " + path);
  std::vector<ChoiceItem> items;
  size_t line_no = 0;
  for (std::string line; std::getline(f, line);) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + " line " + std::to_string(line_no);
    const nlohmann::json j = st::parse_json_bounded(line, where);  // JsonTooDeep names `where`
    if (j.is_discarded()) {  // parse again with exceptions for the parser's own account of the error
      try {
        const nlohmann::json unused = nlohmann::json::parse(line);  // throws: the text is invalid
        (void)unused;
      } catch (const nlohmann::json::exception& e) {
        throw std::invalid_argument(where + ": not valid JSON (" + e.what() + ")");
      }
      throw std::invalid_argument(where + ": not valid JSON");
    }
    if (!j.is_object() || !j.contains("question") || !j["question"].is_string() || !j.contains("choices") ||
        !j["choices"].is_array() || !j.contains("answer"))
      throw std::invalid_argument(where + ": expected {\"question\": \"...\", \"choices\": [\"...\", ...], \"answer\": 0}");
    ChoiceItem item;
    item.question = j["question"].get<std::string>();
    if (item.question.find_first_not_of(" \t\r\n") == std::string::npos)
      throw std::invalid_argument(where + ": the question is empty");
    for (const auto& c : j["choices"]) {
      if (!c.is_string() || c.get<std::string>().empty())
        throw std::invalid_argument(where + ": every choice must be a non-empty string");
      item.choices.push_back(c.get<std::string>());
    }
    if (item.choices.size() < 2) throw std::invalid_argument(where + ": needs at least two choices");
    item.answer = parse_answer(j["answer"], item.choices.size(), where);
    items.push_back(std::move(item));
  }
  if (items.empty()) throw std::invalid_argument(path + " holds no questions");
  return items;
}

ChoiceEvalResult evaluate_choices(const std::shared_ptr<Model>& model, const std::vector<ChoiceItem>& items,
                                  const SessionOptions& session_options,
                                  const std::function<void(size_t, const ChoiceItemResult&)>& on_item) {
  if (items.empty()) throw std::invalid_argument("no questions to evaluate");
  // Encode everything first: the session's context must hold the longest question + choice.
  std::vector<std::vector<EncodedChoice>> encoded(items.size());
  size_t longest = 0;
  for (size_t i = 0; i < items.size(); ++i)
    for (const auto& c : items[i].choices) {
      encoded[i].push_back(encode_choice(*model, items[i].question, c));
      const auto& e = encoded[i].back();
      if (e.context.empty() || e.continuation.empty())
        throw std::invalid_argument("question " + std::to_string(i + 1) + ": the question or a choice has no tokens");
      longest = std::max(longest, e.context.size() + e.continuation.size());
    }
  SessionOptions so = session_options;
  if (so.n_ctx <= 0) so.n_ctx = static_cast<int64_t>(longest);
  if (static_cast<int64_t>(longest) > so.n_ctx)
    throw std::invalid_argument("the longest question + choice has " + std::to_string(longest) + " tokens, more than the context of " +
                                std::to_string(so.n_ctx) + " (raise -c)");
  Session session(model, so);
  const size_t V = static_cast<size_t>(model->info().n_vocab);

  // The question is re-evaluated for every choice: the Session cannot fork its KV cache, and
  // the tasks this is for are small.
  ChoiceEvalResult r;
  size_t correct = 0, correct_norm = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    ChoiceItemResult ir;
    for (const auto& e : encoded[i]) {
      std::vector<int32_t> all = e.context;
      all.insert(all.end(), e.continuation.begin(), e.continuation.end());
      session.reset();
      const std::span<const float> logits = session.eval(all, /*all_logits=*/true);
      ChoiceScore s;
      for (size_t j = 0; j < e.continuation.size(); ++j) {
        const size_t pos = e.context.size() + j - 1;  // the logits that predict continuation token j
        s.logprob += token_log_prob(logits.subspan(pos * V, V), e.continuation[j]);
      }
      s.n_tokens = static_cast<int>(e.continuation.size());
      ir.scores.push_back(s);
    }
    ir.predicted = ir.predicted_norm = 0;
    for (size_t c = 1; c < ir.scores.size(); ++c) {
      if (ir.scores[c].logprob > ir.scores[static_cast<size_t>(ir.predicted)].logprob) ir.predicted = static_cast<int>(c);
      if (ir.scores[c].mean_logprob() > ir.scores[static_cast<size_t>(ir.predicted_norm)].mean_logprob())
        ir.predicted_norm = static_cast<int>(c);
    }
    correct += ir.predicted == items[i].answer;
    correct_norm += ir.predicted_norm == items[i].answer;
    if (on_item) on_item(i, ir);
    r.items.push_back(std::move(ir));
  }
  const size_t n = items.size();
  r.acc = static_cast<double>(correct) / static_cast<double>(n);
  r.acc_norm = static_cast<double>(correct_norm) / static_cast<double>(n);
  r.acc_stderr = accuracy_stderr(r.acc, n);
  r.acc_norm_stderr = accuracy_stderr(r.acc_norm, n);
  return r;
}

}  // namespace smallthinker
