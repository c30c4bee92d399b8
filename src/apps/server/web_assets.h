// The chat page served at `/` (src/apps/server/web/), embedded in the binary at build time by
// src/apps/server/web/web_assets.cmake so the page works offline.
#pragma once
#include <span>
#include <string_view>

namespace st::server {

struct WebAsset {
  std::string_view path;          // URL path: "/index.html", "/app.js", "/vendor/marked.js", ...
  std::string_view content_type;  // e.g. "text/html; charset=utf-8"
  std::string_view body;          // the file's bytes, exactly
};

// Every embedded file, sorted by path. "/" is not listed: serve "/index.html" for it.
std::span<const WebAsset> web_assets();

}  // namespace st::server
