#include "http/stream_hub.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace speedlayer::http {
namespace {

// A subscriber that records what it got, and can refuse after `capacity` frames.
struct Recorder {
  std::vector<std::string> frames;
  std::size_t capacity = SIZE_MAX;
  StreamHub::Sink sink() {
    return [this](const Frame& f) {
      if (frames.size() >= capacity) return false;
      frames.push_back(*f);
      return true;
    };
  }
};

std::string id_line(const std::string& frame) {
  auto start = frame.find("id: ");
  if (start == std::string::npos) return "";
  return frame.substr(start + 4, frame.find('\n', start) - start - 4);
}

TEST(SseFrame, SplitsDataIntoLinesAndEndsWithABlankLine) {
  EXPECT_EQ(sse_frame("a-1", "view", R"({"x":1})"), "id: a-1\nevent: view\ndata: {\"x\":1}\n\n");
  EXPECT_EQ(sse_frame("", "", "one\ntwo\r\nthree\rfour"),
            "data: one\ndata: two\ndata: three\ndata: four\n\n");
  EXPECT_EQ(sse_frame("", "status", ""), "event: status\ndata: \n\n");
}

TEST(StreamHub, NewSubscriberGetsSnapshotsOfItsTopicsAndTheStatus) {
  StreamHub hub;
  hub.publish_topic("Sport", "d1", "S1");
  hub.publish_topic("AI", "d2", "A1");
  hub.publish_status("st");
  Recorder r;
  hub.subscribe({"Sport"}, "", r.sink());
  ASSERT_EQ(r.frames.size(), 2u);
  EXPECT_NE(r.frames[0].find("event: view\ndata: S1\n"), std::string::npos) << r.frames[0];
  EXPECT_NE(r.frames[1].find("event: status\ndata: st\n"), std::string::npos) << r.frames[1];
  // Snapshots carry the newest id, so resuming from them loses nothing.
  EXPECT_EQ(id_line(r.frames[0]), hub.last_id());
  EXPECT_EQ(hub.snapshots(), 1u);

  hub.publish_topic("AI", "d3", "A2");     // not subscribed
  hub.publish_topic("Sport", "d4", "S2");  // subscribed
  hub.publish_status("st2");               // everyone
  ASSERT_EQ(r.frames.size(), 4u);
  EXPECT_NE(r.frames[2].find("data: d4\n"), std::string::npos);
  EXPECT_NE(r.frames[3].find("data: st2\n"), std::string::npos);
}

TEST(StreamHub, NoTopicsMeansEveryTopicIncludingNewOnes) {
  StreamHub hub;
  Recorder r;
  hub.subscribe({}, "", r.sink());
  hub.publish_topic("Later", "d", "s");
  ASSERT_EQ(r.frames.size(), 1u);
  EXPECT_NE(r.frames[0].find("data: d\n"), std::string::npos);
}

TEST(StreamHub, IdsIncreaseAndAResumeGetsExactlyTheMissedEvents) {
  StreamHub hub;
  Recorder first;
  const auto sub = hub.subscribe({"T"}, "", first.sink());
  hub.publish_topic("T", "e1", "s1");
  hub.publish_topic("T", "e2", "s2");
  ASSERT_EQ(first.frames.size(), 2u);
  const std::string seen = id_line(first.frames[0]);
  EXPECT_LT(seen, id_line(first.frames[1]));  // same token, sequence 1 < 2
  hub.unsubscribe(sub);
  hub.publish_topic("T", "e3", "s3");
  hub.publish_topic("U", "other", "u");
  hub.publish_status("st");

  Recorder again;
  hub.subscribe({"T"}, seen, again.sink());
  ASSERT_EQ(again.frames.size(), 3u);  // e2, e3 and the status: nothing twice, nothing lost
  EXPECT_NE(again.frames[0].find("data: e2\n"), std::string::npos);
  EXPECT_NE(again.frames[1].find("data: e3\n"), std::string::npos);
  EXPECT_NE(again.frames[2].find("event: status"), std::string::npos);
  EXPECT_EQ(hub.resumes(), 1u);
}

TEST(StreamHub, AnIdNotFromThisHubOrTooOldGetsASnapshot) {
  StreamHub::Options small;
  small.history_events = 2;
  StreamHub hub(small);
  for (int i = 1; i <= 5; ++i)
    hub.publish_topic("T", "e" + std::to_string(i), "s" + std::to_string(i));
  const std::string token = hub.last_id().substr(0, hub.last_id().find('-'));
  for (const std::string& id : {std::string("0123456789abcdef-1"), token + "-1", token + "-99",
                                token + "-x", std::string("garbage")}) {
    Recorder r;
    hub.subscribe({"T"}, id, r.sink());
    ASSERT_EQ(r.frames.size(), 1u) << id;
    EXPECT_NE(r.frames[0].find("data: s5\n"), std::string::npos) << id << ": " << r.frames[0];
  }
  Recorder recent;  // within the two kept events: resumed
  hub.subscribe({"T"}, token + "-3", recent.sink());
  ASSERT_EQ(recent.frames.size(), 2u);
  EXPECT_NE(recent.frames[0].find("data: e4\n"), std::string::npos);
}

TEST(StreamHub, HistoryIsBoundedInBytes) {
  StreamHub::Options small;
  small.history_bytes = 1000;
  StreamHub hub(small);
  for (int i = 0; i < 100; ++i) hub.publish_topic("T", std::string(100, 'x'), "s");
  const std::string token = hub.last_id().substr(0, hub.last_id().find('-'));
  Recorder r;
  hub.subscribe({"T"}, token + "-50", r.sink());  // long gone: snapshot
  ASSERT_EQ(r.frames.size(), 1u);
  EXPECT_NE(r.frames[0].find("data: s\n"), std::string::npos);
}

TEST(StreamHub, ASinkThatRefusesIsRemovedAndCounted) {
  StreamHub hub;
  Recorder slow;
  slow.capacity = 1;
  Recorder fine;
  hub.subscribe({}, "", slow.sink());
  hub.subscribe({}, "", fine.sink());
  EXPECT_EQ(hub.subscribers(), 2u);
  hub.publish_topic("T", "a", "s");
  hub.publish_topic("T", "b", "s");
  EXPECT_EQ(hub.subscribers(), 1u);
  EXPECT_EQ(hub.dropped(), 1u);
  hub.publish_topic("T", "c", "s");
  EXPECT_EQ(slow.frames.size(), 1u);
  EXPECT_EQ(fine.frames.size(), 3u);
}

}  // namespace
}  // namespace speedlayer::http
