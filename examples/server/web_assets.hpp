#pragma once
// The web page's files (web/*, the bundled scene), compiled into the binary by
// embed_assets.cmake so the server needs no file at run time and the page fetches nothing else.
#include <string_view>
#include <vector>

namespace regionlm::server {

struct WebAsset {
  std::string_view path;          // URL path, e.g. "/app.js" ("/" for index.html)
  std::string_view content_type;  // e.g. "text/javascript; charset=utf-8"
  std::string_view data;          // the file's bytes
};

const std::vector<WebAsset>& web_assets();

}  // namespace regionlm::server
