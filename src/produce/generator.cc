#include "produce/generator.h"

#include <array>

namespace speedlayer::produce {
namespace {

constexpr std::array<std::string_view, 8> kSportSubjects = {
    "Messi",          "The football team", "Our basketball coach", "The striker",
    "A rookie guard", "The goalkeeper",    "The league leader",    "Her football club"};
constexpr std::array<std::string_view, 6> kSportActions = {"scored twice in the final",
                                                           "won the derby on penalties",
                                                           "signed a new contract",
                                                           "broke the assist record",
                                                           "trained before the basketball playoffs",
                                                           "celebrated with the fans"};
constexpr std::array<std::string_view, 7> kAiSubjects = {
    "The new AI model", "An ML pipeline",     "Our NLP service", "A CV system",
    "The research lab", "An open ML library", "The AI assistant"};
constexpr std::array<std::string_view, 6> kAiActions = {"beat the benchmark",
                                                        "now labels images in real time",
                                                        "was trained on more data",
                                                        "cut inference latency in half",
                                                        "answers questions about contracts",
                                                        "shipped to production"};
constexpr std::array<std::string_view, 6> kOtherSubjects = {"The weather service", "A local bakery",
                                                            "The city council",    "Our train",
                                                            "The museum",          "A new cafe"};
constexpr std::array<std::string_view, 6> kOtherActions = {
    "expects rain tomorrow", "opened a second shop",       "approved the budget",
    "is ten minutes late",   "extended its opening hours", "hired two baristas"};

template <std::size_t N>
std::string_view pick(std::mt19937_64& rng, const std::array<std::string_view, N>& list) {
  return list[rng() % N];
}

}  // namespace

Generator::Generator(std::uint64_t seed, double rate_per_second)
    : rng_(seed), rate_(rate_per_second), start_(std::chrono::steady_clock::now()) {}

std::chrono::nanoseconds Generator::wait_time() const {
  if (rate_ <= 0) return std::chrono::nanoseconds(0);
  auto due = start_ + std::chrono::nanoseconds(static_cast<std::int64_t>(produced_ * 1e9 / rate_));
  auto now = std::chrono::steady_clock::now();
  return due > now ? std::chrono::duration_cast<std::chrono::nanoseconds>(due - now)
                   : std::chrono::nanoseconds(0);
}

std::string_view Generator::next() {
  ++produced_;
  sentence_.clear();
  switch (rng_() % 3) {
    case 0:
      sentence_.append(pick(rng_, kSportSubjects)).append(" ").append(pick(rng_, kSportActions));
      break;
    case 1:
      sentence_.append(pick(rng_, kAiSubjects)).append(" ").append(pick(rng_, kAiActions));
      break;
    default:
      sentence_.append(pick(rng_, kOtherSubjects)).append(" ").append(pick(rng_, kOtherActions));
      break;
  }
  sentence_.append(" #").append(std::to_string(produced_));
  return sentence_;
}

}  // namespace speedlayer::produce
