// Who may talk to the server, as pure functions over header values (no sockets, no Beast), so
// they are unit-tested directly (tests/server/http_policy_test.cpp).
//
// The threat: a web page the user visits can make the browser send requests to a server on
// the user's machine. Three checks stop it without getting in the way of curl or SDKs:
//  - Host: a DNS-rebinding page reaches us under its own name (evil.example resolving to
//    127.0.0.1), so only the names we are served under are accepted;
//  - Origin: a cross-site page's requests carry its Origin; only local pages (and the origins
//    the user lists) may call the API, and requests from other pages are refused outright;
//  - Content-Type: a "simple" cross-site POST (text/plain, form data) needs no preflight, so
//    JSON routes accept only application/json, which browsers send only after a preflight.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace st::server {

struct AccessPolicy {
  std::string bind_host = "127.0.0.1";      // --host
  std::vector<std::string> allowed_hosts;   // --allowed-host: more names the server is reached by
  std::vector<std::string> cors_origins;    // --cors-origin: origins besides local pages ("*": any)
};

// "Host" header value -> the host without port, lower-case, IPv6 in brackets ("[::1]"); empty
// when the value is malformed.
std::string host_of_authority(std::string_view authority);
bool is_ip_literal(std::string_view host);  // "127.0.0.1", "[::1]" (as host_of_authority gives them)
bool is_wildcard_address(std::string_view bind_host);  // 0.0.0.0, ::, [::]

// The Host header is one of the server's names: localhost, 127.0.0.1, [::1], --host, an
// --allowed-host, or (bound to a wildcard address) any IP literal. A request without Host
// (HTTP/1.0) passes: browsers always send one.
bool host_allowed(std::string_view host_header, const AccessPolicy& policy);

enum class OriginVerdict {
  absent,   // no Origin header: not a cross-origin browser request
  allowed,  // a browser page that may call the API (reply with Access-Control-Allow-Origin)
  refused,  // a page of another site: 403
};
// `host_header` is the request's Host: a page served by this server under that name is
// same-origin and allowed.
OriginVerdict check_origin(std::string_view origin, std::string_view host_header, const AccessPolicy& policy);

// "application/json", any case, with or without parameters ("; charset=utf-8").
bool is_json_content_type(std::string_view content_type);

// A key as sent (Anthropic's "x-api-key: KEY"), compared in constant time. An empty key never
// matches.
bool key_matches(std::string_view given, std::string_view key);

// "Authorization: Bearer KEY": the scheme in any case (RFC 9110), the key compared in constant
// time. An empty key never matches.
bool bearer_matches(std::string_view authorization, std::string_view key);

}  // namespace st::server
