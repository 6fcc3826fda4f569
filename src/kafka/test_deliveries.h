// Test helper (kafka's unit tests): ProducerEvents that counts delivery reports and ignores
// client errors.
#pragma once

#include <string_view>

#include "kafka/producer.h"

namespace speedlayer::kafka::testing {

struct CountingDeliveries : ProducerEvents {
  int ok = 0;
  int failed = 0;
  void on_delivery(const DeliveryReport& r) noexcept override {
    if (r.error == RD_KAFKA_RESP_ERR_NO_ERROR)
      ++ok;
    else
      ++failed;
  }
  void on_client_error(rd_kafka_resp_err_t, std::string_view, bool) noexcept override {}
};

}  // namespace speedlayer::kafka::testing
