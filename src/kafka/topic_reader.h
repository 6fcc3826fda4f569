// Reads a whole topic from the beginning and then follows it: every partition assigned (no
// consumer group, nothing committed), read_committed isolation (only committed transactions
// are seen), tombstones passed on as a missing value. serve's changelog follower uses it to
// rebuild every replica's views from the compacted changelog.
//
//   auto reader = TopicReader::create(props, "speedlayer.changelog", 10000);
//   (*reader)->read_to_end([&](auto key, auto value) { store.apply(key, value); }, 30000);
//   while (running) (*reader)->poll_some(apply, 100);   // follow new commits
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "kafka/handles.h"
#include "kafka/properties.h"

namespace speedlayer::kafka {

using RecordFn = std::function<void(std::string_view key, std::optional<std::string_view> value)>;

class TopicReader {
 public:
  // `props`: connection settings; group.id, isolation and offsets are set here. Fails when
  // the topic's metadata cannot be read within `timeout_ms` or it has no partitions.
  static Result<std::unique_ptr<TopicReader>> create(const Properties& props,
                                                     const std::string& topic, int timeout_ms);
  // Reads until every partition reached its end (the last stable offset) as of this call;
  // fails after `timeout_ms` (e.g. a transaction left open holds the last stable offset).
  Status read_to_end(const RecordFn& f, int timeout_ms);
  // Reads whatever arrives within `timeout_ms` (at most 10,000 records); returns how many.
  int poll_some(const RecordFn& f, int timeout_ms);

 private:
  TopicReader() = default;
  bool deliver(rd_kafka_message_t* msg, const RecordFn& f);
  Status start_fetching();  // assigns every partition from the beginning, once

  std::string topic_;
  KafkaPtr rk_;
  std::map<std::int32_t, std::int64_t> position_;  // next offset per partition
  bool fetching_ = false;
};

}  // namespace speedlayer::kafka
