// Window alignment and event-time checks (window.h, extract.h).
#include "views/window.h"

#include "views/extract.h"
#include "views/internal.h"

namespace speedlayer::views {
namespace {
using internal::sat_add;
}  // namespace

Millis window_start(Millis event_time, Millis size_ms) {
  if (size_ms <= 0) return event_time;
  Millis r = event_time % size_ms;
  if (r < 0) r += size_ms;
  return event_time - r;
}

Malformed event_time_problem(Millis event_time, Millis wall_now, Millis max_future_ms) {
  if (event_time < 0) return Malformed::bad_time;
  if (event_time > sat_add(wall_now, max_future_ms)) return Malformed::future_time;
  return Malformed::none;
}

}  // namespace speedlayer::views
