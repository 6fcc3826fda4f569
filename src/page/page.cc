#include "page/page.h"

namespace speedlayer::page {

const Asset* find_asset(std::string_view path) {
  for (const Asset& a : assets()) {
    if (a.path == path) return &a;
  }
  return nullptr;
}

}  // namespace speedlayer::page
