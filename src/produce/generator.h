// A synthetic stream of sport, AI and other sentences, like the messages the founding
// document's producer pod sends forever. Deterministic for a given seed.
//
//   Generator gen(/*seed=*/1, /*rate_per_second=*/1000);
//   std::string_view sentence = gen.next();   // sleeps to keep the rate
#pragma once

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

namespace speedlayer::produce {

class Generator {
 public:
  // rate_per_second <= 0: as fast as possible.
  Generator(std::uint64_t seed, double rate_per_second);
  std::string_view next();
  // How long to wait before the next message may go (zero when unlimited or behind).
  std::chrono::nanoseconds wait_time() const;

 private:
  std::mt19937_64 rng_;
  double rate_;
  std::uint64_t produced_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::string sentence_;
};

}  // namespace speedlayer::produce
