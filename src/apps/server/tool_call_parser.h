// Tool calls in generated text (the Qwen/Hermes convention), for the chat replies of
// `smallthinker serve`. Pure string handling, fuzzed with the wire protocol (request_fuzz).
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace st::server {

// Splits generated text into content and tool calls in the Qwen/Hermes convention:
//   text <tool_call>{"name": "f", "arguments": {...}}</tool_call> <tool_call>...</tool_call>
// Fed piece by piece as the text is generated: a call opens as soon as its name is known and
// its arguments are passed on as they arrive (the raw JSON text of the "arguments" value), so a
// stream of the events reassembles to what parsing the whole text at once gives. Whitespace
// before a call and between or after calls is dropped. A block that is not such an object
// (arguments before the name, or a reply with other key names) is parsed once its close tag
// arrives; one that is not a call at all stays content.
class ToolCallParser {
 public:
  struct Event {
    int index = 0;          // the call's number in the reply, from 0
    bool opens = false;     // first event of the call: `name` is set
    std::string name;
    std::string arguments;  // more of the arguments' JSON text
  };
  struct Output {
    std::string content;
    std::vector<Event> calls;
  };
  Output push(std::string_view text);
  // The text has ended: content held back; a call cut off (max_tokens) keeps what it has.
  Output finish();
  int calls() const { return n_calls_; }

 private:
  void content_step(Output& out);
  bool call_step(Output& out);       // false: needs more text
  bool scan_arguments(Output& out);  // false: the arguments' value goes on
  void close_call(Output& out, size_t close);
  void parse_whole(Output& out, const std::string& body, bool closed);

  std::string buffer_;          // text not yet handled (in a call: from after what was parsed)
  std::string held_space_;      // whitespace before the open tag (content again if the block is no call)
  bool in_call_ = false;
  bool after_call_ = false;     // leading whitespace of the content is dropped
  bool opened_ = false;         // the current call's name has been passed on
  bool header_failed_ = false;  // not `{"name": ..., "arguments": ...`: parsed at the close tag
  bool args_started_ = false, args_done_ = false;
  bool in_string_ = false, escaped_ = false;
  int depth_ = 0;               // open brackets in the arguments' value
  int n_calls_ = 0;
};

}  // namespace st::server
