// The server's access policy (src/apps/server/http_policy.h): which Host, Origin,
// Content-Type and Authorization headers pass. The expectations follow RFC 9110 (Host, the
// Bearer scheme is case-insensitive), RFC 6454 (origins) and the Fetch standard's CORS rules.
#include <gtest/gtest.h>

#include "apps/server/http_policy.h"

namespace st::server {
namespace {

AccessPolicy loopback() { return AccessPolicy{}; }

TEST(HttpPolicy, HostNamesOfTheDefaultServer) {
  const AccessPolicy p = loopback();
  for (const char* ok : {"127.0.0.1:8080", "localhost:8080", "LOCALHOST", "localhost.:80", "[::1]:8080", "127.0.0.1", ""})
    EXPECT_TRUE(host_allowed(ok, p)) << ok;
  // DNS rebinding: a foreign name resolving to 127.0.0.1 arrives with that name.
  for (const char* bad : {"evil.example:8080", "evil.example", "127.0.0.2", "192.168.1.10:8080", "[::2]", "::1",
                          "localhost:port", "local host", "[::1", "a@b"})
    EXPECT_FALSE(host_allowed(bad, p)) << bad;
}

TEST(HttpPolicy, HostNamesFromOptions) {
  AccessPolicy p;
  p.bind_host = "192.168.1.10";
  p.allowed_hosts = {"MyBox.lan"};
  EXPECT_TRUE(host_allowed("192.168.1.10:8080", p));
  EXPECT_TRUE(host_allowed("mybox.lan:8080", p));
  EXPECT_FALSE(host_allowed("10.0.0.1:8080", p));  // bound to one address: other IPs are not us
  EXPECT_FALSE(host_allowed("other.lan", p));
  // A wildcard bind is reached by any of the machine's addresses, but names must be listed.
  p.bind_host = "0.0.0.0";
  EXPECT_TRUE(host_allowed("10.0.0.1:8080", p));
  EXPECT_TRUE(host_allowed("[fe80::1]:8080", p));
  EXPECT_TRUE(host_allowed("mybox.lan", p));
  EXPECT_FALSE(host_allowed("evil.example", p));
  p.bind_host = "::1";
  EXPECT_TRUE(host_allowed("[::1]:1", p));
}

TEST(HttpPolicy, OriginsOfLocalPagesAreAllowedOthersRefused) {
  const AccessPolicy p = loopback();
  EXPECT_EQ(check_origin("", "127.0.0.1:8080", p), OriginVerdict::absent);  // curl, SDKs
  for (const char* ok : {"http://localhost:3000", "https://localhost", "http://127.0.0.1:8080", "http://[::1]:5173",
                         "HTTP://LOCALHOST:3000"})
    EXPECT_EQ(check_origin(ok, "127.0.0.1:8080", p), OriginVerdict::allowed) << ok;
  for (const char* bad : {"https://evil.example", "http://evil.example:8080", "null", "file://", "http://localhost.evil.example",
                          "ftp://localhost", "http://127.0.0.1:8080/path", "localhost:3000"})
    EXPECT_EQ(check_origin(bad, "127.0.0.1:8080", p), OriginVerdict::refused) << bad;
}

TEST(HttpPolicy, SameOriginPagesAndListedOrigins) {
  AccessPolicy p;
  p.bind_host = "0.0.0.0";
  p.allowed_hosts = {"mybox.lan"};
  // The chat page served under an allowed name calls its own server.
  EXPECT_EQ(check_origin("http://mybox.lan:8080", "mybox.lan:8080", p), OriginVerdict::allowed);
  EXPECT_EQ(check_origin("http://10.0.0.5:8080", "10.0.0.5:8080", p), OriginVerdict::allowed);
  // Same authority but a Host the server does not accept, or another port: not ours.
  EXPECT_EQ(check_origin("http://evil.example:8080", "evil.example:8080", p), OriginVerdict::refused);
  EXPECT_EQ(check_origin("http://mybox.lan:9999", "mybox.lan:8080", p), OriginVerdict::refused);
  p.cors_origins = {"https://app.example/"};
  EXPECT_EQ(check_origin("https://app.example", "127.0.0.1:8080", p), OriginVerdict::allowed);
  EXPECT_EQ(check_origin("https://app.example.evil", "127.0.0.1:8080", p), OriginVerdict::refused);
  p.cors_origins = {"*"};
  EXPECT_EQ(check_origin("https://anything.example", "127.0.0.1:8080", p), OriginVerdict::allowed);
  EXPECT_EQ(check_origin("null", "127.0.0.1:8080", p), OriginVerdict::allowed);
}

TEST(HttpPolicy, JsonContentType) {
  for (const char* ok : {"application/json", "application/json; charset=utf-8", "Application/JSON", " application/json ;x=y"})
    EXPECT_TRUE(is_json_content_type(ok)) << ok;
  // The three types a cross-site page may POST without a preflight, and near misses.
  for (const char* bad : {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "",
                          "application/jsonx", "text/plain; application/json"})
    EXPECT_FALSE(is_json_content_type(bad)) << bad;
}

TEST(HttpPolicy, BearerSchemeIsCaseInsensitive) {
  for (const char* ok : {"Bearer k3y", "bearer k3y", "BEARER k3y", "Bearer   k3y  ", "bEaReR\tk3y"})
    EXPECT_TRUE(bearer_matches(ok, "k3y")) << ok;
  for (const char* bad : {"Bearer k3", "Bearer k3yy", "Bearer K3Y", "Basic k3y", "k3y", "Bearer", "Bearerk3y", ""})
    EXPECT_FALSE(bearer_matches(bad, "k3y")) << bad;
  EXPECT_FALSE(bearer_matches("Bearer ", ""));  // no key configured never matches
}

}  // namespace
}  // namespace st::server
