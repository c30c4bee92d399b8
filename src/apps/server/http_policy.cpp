#include "apps/server/http_policy.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

namespace st::server {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool all_digits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

// A configured name (--host, --allowed-host) in the form host_of_authority gives.
std::string normalized_name(std::string_view name) {
  std::string n = lower(trim(name));
  if (n.find(':') != std::string::npos && n.front() != '[') n = "[" + n + "]";  // a bare IPv6 address
  if (n.size() > 1 && n.back() == '.') n.pop_back();
  return n;
}

bool is_local_name(std::string_view host) { return host == "localhost" || host == "127.0.0.1" || host == "[::1]"; }

// "http://host:port" -> scheme and authority; false unless it has exactly that shape.
bool split_origin(std::string_view origin, std::string& scheme, std::string& authority) {
  const size_t sep = origin.find("://");
  if (sep == std::string_view::npos || sep == 0) return false;
  scheme = lower(origin.substr(0, sep));
  std::string_view rest = origin.substr(sep + 3);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.empty() || rest.find('/') != std::string_view::npos) return false;
  authority = lower(rest);
  return true;
}

}  // namespace

std::string host_of_authority(std::string_view authority) {
  authority = trim(authority);
  std::string_view host = authority, port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return "";
    host = authority.substr(0, close + 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return "";
      port = after.substr(1);
    }
    const std::string inside(host.substr(1, host.size() - 2));
    in6_addr addr{};
    if (inet_pton(AF_INET6, inside.c_str(), &addr) != 1) return "";
  } else {
    const size_t colon = authority.find(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
    }
    if (host.empty() || !std::all_of(host.begin(), host.end(), is_name_char)) return "";
  }
  if (!all_digits(port) || port.size() > 5) return "";
  std::string h = lower(host);
  if (h.size() > 1 && h.back() == '.') h.pop_back();  // "localhost." is localhost
  return h;
}

bool is_ip_literal(std::string_view host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    const std::string inside(host.substr(1, host.size() - 2));
    in6_addr addr6{};
    return inet_pton(AF_INET6, inside.c_str(), &addr6) == 1;
  }
  const std::string h(host);
  in_addr addr{};
  return inet_pton(AF_INET, h.c_str(), &addr) == 1;  // dotted quad only
}

bool is_wildcard_address(std::string_view bind_host) {
  const std::string h = normalized_name(bind_host);
  return h == "0.0.0.0" || h == "[::]" || h.empty();
}

bool host_allowed(std::string_view host_header, const AccessPolicy& policy) {
  if (trim(host_header).empty()) return true;
  const std::string host = host_of_authority(host_header);
  if (host.empty()) return false;
  if (is_local_name(host)) return true;
  const bool wildcard = is_wildcard_address(policy.bind_host);
  if (!wildcard && host == normalized_name(policy.bind_host)) return true;
  if (wildcard && is_ip_literal(host)) return true;
  return std::any_of(policy.allowed_hosts.begin(), policy.allowed_hosts.end(),
                     [&](const std::string& name) { return normalized_name(name) == host; });
}

OriginVerdict check_origin(std::string_view origin, std::string_view host_header, const AccessPolicy& policy) {
  origin = trim(origin);
  if (origin.empty()) return OriginVerdict::absent;
  for (const std::string& allowed : policy.cors_origins) {
    if (allowed == "*") return OriginVerdict::allowed;
    std::string_view a = trim(allowed);
    if (!a.empty() && a.back() == '/') a.remove_suffix(1);
    std::string_view o = origin;
    if (!o.empty() && o.back() == '/') o.remove_suffix(1);
    if (lower(a) == lower(o)) return OriginVerdict::allowed;
  }
  std::string scheme, authority;
  if (!split_origin(origin, scheme, authority) || (scheme != "http" && scheme != "https")) return OriginVerdict::refused;
  const std::string host = host_of_authority(authority);
  if (host.empty()) return OriginVerdict::refused;
  if (is_local_name(host)) return OriginVerdict::allowed;
  // The page was served by this server under a name that passed host_allowed(): same origin.
  if (scheme == "http" && authority == lower(trim(host_header)) && host_allowed(host_header, policy))
    return OriginVerdict::allowed;
  return OriginVerdict::refused;
}

bool is_json_content_type(std::string_view content_type) {
  const size_t semi = content_type.find(';');
  return lower(trim(content_type.substr(0, semi))) == "application/json";
}

bool bearer_matches(std::string_view authorization, std::string_view key) {
  authorization = trim(authorization);
  const size_t space = authorization.find_first_of(" \t");
  if (space == std::string_view::npos || lower(authorization.substr(0, space)) != "bearer") return false;
  return key_matches(trim(authorization.substr(space)), key);
}

bool key_matches(std::string_view given, std::string_view key) {
  if (key.empty()) return false;
  // Every byte is compared whatever the first difference, so timing does not reveal the key.
  unsigned diff = given.size() == key.size() ? 0u : 1u;
  for (size_t i = 0; i < given.size(); ++i)
    diff |= static_cast<unsigned char>(given[i]) ^ static_cast<unsigned char>(key[i % key.size()]);
  return diff == 0;
}

}  // namespace st::server
