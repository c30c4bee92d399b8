#include "text/stream_decoder.h"

#include <span>

#include "text/tokenizer.h"
#include "text/utf8.h"

namespace st {

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool show_control)
    : tokenizer_(tokenizer), show_control_(show_control) {}

std::string StreamDecoder::push(int32_t id) {
  const int32_t one[1] = {id};
  pending_ += tokenizer_.decode(std::span<const int32_t>(one), show_control_);
  const size_t complete = utf8::complete_prefix_length(pending_);
  // Everything before `complete` is final: sanitize it now (ill-formed bytes there can no
  // longer be completed) and keep only the unfinished tail.
  std::string out = utf8::sanitize(std::string_view(pending_).substr(0, complete));
  pending_.erase(0, complete);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = utf8::sanitize(pending_);
  pending_.clear();
  return out;
}

}  // namespace st
