// JSON parsing with a bound on nesting depth, for every JSON text that comes from outside: the
// server's request bodies, and the library's render_chat messages/tools/kwargs and tool
// schemas. nlohmann's parser itself does not recurse, but copying, comparing, printing and
// converting a parsed value recurse once per level, so a text nested 100,000 deep (200 KB)
// overflows the stack long after parsing; the depth is therefore bounded while parsing.
// Header-only (no library code): the server's protocol layer and its fuzz target include it
// without linking libsmallthinker.
#pragma once
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

namespace st {

// Nesting of arrays and objects accepted by default (the server's default --max-json-depth).
inline constexpr int kMaxJsonDepth = 64;

// Thrown by parse_json_bounded when the text nests deeper than the limit; `what()` names it.
class JsonTooDeep : public std::invalid_argument {
 public:
  JsonTooDeep(const std::string& what, int max_depth)
      : std::invalid_argument(what + " nests arrays and objects deeper than " + std::to_string(max_depth) +
                              " levels (the limit)"),
        limit(max_depth) {}
  int limit;
};

// Parses `text`; invalid JSON gives a discarded value (check is_discarded()). Nesting deeper
// than `max_depth` throws JsonTooDeep naming `what` ("the request body", "messages", ...).
template <class Json = nlohmann::json>
Json parse_json_bounded(std::string_view text, const std::string& what, int max_depth = kMaxJsonDepth) {
  const auto depth_guard = [&](int depth, typename Json::parse_event_t event, Json&) {
    if ((event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start) && depth >= max_depth)
      throw JsonTooDeep(what, max_depth);
    return true;
  };
  return Json::parse(text, depth_guard, /*allow_exceptions=*/false);
}

}  // namespace st
