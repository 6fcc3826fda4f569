// Reading the compacted changelog topic that holds every partial aggregate, with
// read_committed isolation (only committed transactions are seen), assigned to all of its
// partitions from the beginning (no consumer group).
//
//   auto reader = ChangelogReader::create(props, "speedlayer.changelog");
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

namespace speedlayer::serve {

using RecordFn = std::function<void(std::string_view key, std::optional<std::string_view> value)>;

class ChangelogReader {
 public:
  // `props`: connection settings; group.id, isolation and offsets are set here.
  static Result<std::unique_ptr<ChangelogReader>> create(const kafka::Properties& props,
                                                         const std::string& topic,
                                                         int timeout_ms);
  // Reads until every partition reached its end (the last stable offset) as of this call.
  Status read_to_end(const RecordFn& f, int timeout_ms);
  // Reads whatever arrives within `timeout_ms`; returns the number of records.
  int poll_some(const RecordFn& f, int timeout_ms);

 private:
  ChangelogReader() = default;
  bool deliver(rd_kafka_message_t* msg, const RecordFn& f);
  Status start_fetching();  // assigns every partition from the beginning, once

  std::string topic_;
  kafka::KafkaPtr rk_;
  std::map<std::int32_t, std::int64_t> position_;  // next offset per partition
  bool fetching_ = false;
};

}  // namespace speedlayer::serve
