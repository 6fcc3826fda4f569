#include "page/page.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

namespace speedlayer::page {
namespace {

std::string source_file(const std::string& name) {
  std::ifstream in(std::string(SPEEDLAYER_SOURCE_DIR) + "/src/page/" + name, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST(FindAsset, ServesThePageScriptAndStylesheetWithTheirContentTypes) {
  struct Want {
    std::string_view path, content_type, file;
  };
  for (const Want& w : {Want{"/", "text/html; charset=utf-8", "index.html"},
                        Want{"/app.js", "text/javascript; charset=utf-8", "app.js"},
                        Want{"/app.css", "text/css; charset=utf-8", "app.css"}}) {
    SCOPED_TRACE(w.path);
    const Asset* a = find_asset(w.path);
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->path, w.path);
    EXPECT_EQ(a->content_type, w.content_type);
    EXPECT_FALSE(a->body.empty());
    // The exact bytes of the source file (non-ASCII included), nothing added or cut.
    EXPECT_EQ(a->body, source_file(std::string(w.file)));
  }
  EXPECT_EQ(assets().size(), 3u);
}

TEST(FindAsset, UnknownPathsAreNotFound) {
  for (std::string_view path : {"", "/index.html", "/app.js?v=1", "app.js", "/APP.JS", "/app.js/",
                                "//", "/favicon.ico", "/v1/views"}) {
    SCOPED_TRACE(path);
    EXPECT_EQ(find_asset(path), nullptr);
  }
}

TEST(FindAsset, IndexLoadsTheScriptAndStylesheetAndHasNothingInline) {
  const std::string_view html = find_asset("/")->body;
  EXPECT_NE(html.find("<script src=\"/app.js\""), std::string_view::npos);
  EXPECT_NE(html.find("<link rel=\"stylesheet\" href=\"/app.css\">"), std::string_view::npos);
  // A strict Content-Security-Policy (no 'unsafe-inline') blocks inline script and style.
  EXPECT_EQ(html.find("<script>"), std::string_view::npos);
  EXPECT_EQ(html.find("<style"), std::string_view::npos);
  EXPECT_EQ(html.find("style="), std::string_view::npos);
  for (std::string_view handler : {"onclick=", "onload=", "onerror=", "javascript:"}) {
    EXPECT_EQ(html.find(handler), std::string_view::npos) << handler;
  }
}

}  // namespace
}  // namespace speedlayer::page
