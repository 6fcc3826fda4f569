// Boost.URL is header-only here (Debian ships no libboost_url): its sources compile once, in
// this file, for parse_target (server.cc).
#include <boost/url/src.hpp>
