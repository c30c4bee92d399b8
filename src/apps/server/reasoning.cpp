#include "apps/server/reasoning.h"
#include "apps/server/tag_scan.h"

#include <algorithm>

namespace st::server {
namespace {

constexpr std::string_view kOpen = "<think>";
constexpr std::string_view kClose = "</think>";

}  // namespace

std::optional<ReasoningFormat> parse_reasoning_format(std::string_view name) {
  if (name == "none") return ReasoningFormat::none;
  if (name == "deepseek") return ReasoningFormat::deepseek;
  if (name == "deepseek-legacy") return ReasoningFormat::deepseek_legacy;
  if (name == "auto") return ReasoningFormat::automatic;
  return std::nullopt;
}

bool prompt_opens_thinking(std::string_view prompt) {
  while (!prompt.empty() && is_space(prompt.back())) prompt.remove_suffix(1);
  return prompt.size() >= kOpen.size() && prompt.substr(prompt.size() - kOpen.size()) == kOpen;
}

// Before anything was handed out: whitespace, then <think> (reasoning) or anything else (content).
void ReasoningSplitter::start_step(Output& out) {
  const size_t first = pending_.find_first_not_of(" \n\r\t");
  if (first == std::string::npos) return;  // only whitespace so far: wait
  const std::string_view rest = std::string_view(pending_).substr(first);
  if (rest.size() < kOpen.size() && kOpen.substr(0, rest.size()) == rest) return;  // maybe <think>: wait
  if (rest.substr(0, kOpen.size()) == kOpen) {
    pending_.erase(0, first + kOpen.size());
    state_ = State::thinking;
    return;
  }
  out.content += pending_;  // no thinking: the reply as generated, leading whitespace included
  pending_.clear();
  state_ = State::content;
}

// Inside the thinking: up to </think>; trailing whitespace and a partial tag are held back.
void ReasoningSplitter::thinking_step(Output& out) {
  if (!reasoning_begun_) {
    const size_t first = pending_.find_first_not_of(" \n\r\t");
    pending_.erase(0, first == std::string::npos ? pending_.size() : first);
    if (pending_.empty()) return;
    reasoning_begun_ = true;
  }
  const size_t close = pending_.find(kClose);
  if (close != std::string::npos) {
    std::string_view body = std::string_view(pending_).substr(0, close);
    while (!body.empty() && is_space(body.back())) body.remove_suffix(1);
    out.reasoning += body;
    pending_.erase(0, close + kClose.size());
    state_ = State::after_close;
    return;
  }
  size_t keep = partial_tag_tail(pending_, kClose);
  while (keep < pending_.size() && is_space(pending_[pending_.size() - keep - 1])) ++keep;
  out.reasoning.append(pending_, 0, pending_.size() - keep);
  pending_.erase(0, pending_.size() - keep);
}

ReasoningSplitter::Output ReasoningSplitter::push(std::string_view text) {
  Output out;
  pending_ += text;
  for (;;) {
    const State before = state_;
    switch (state_) {
      case State::start: start_step(out); break;
      case State::thinking: thinking_step(out); break;
      case State::after_close: {  // whitespace after </think> is dropped
        const size_t first = pending_.find_first_not_of(" \n\r\t");
        pending_.erase(0, first == std::string::npos ? pending_.size() : first);
        if (!pending_.empty()) state_ = State::content;
        break;
      }
      case State::content:
        out.content += pending_;
        pending_.clear();
        break;
    }
    if (state_ == before) return out;
  }
}

ReasoningSplitter::Output ReasoningSplitter::finish() {
  Output out;
  if (state_ == State::start) {
    out.content = std::move(pending_);  // whitespace or a partial "<think": the text as generated
  } else if (state_ == State::thinking) {
    // Ended inside the thinking: a partial "</thi" is reasoning text, trailing whitespace goes.
    std::string_view rest = pending_;
    while (!rest.empty() && is_space(rest.back())) rest.remove_suffix(1);
    out.reasoning = rest;
  }
  pending_.clear();
  return out;
}

}  // namespace st::server
