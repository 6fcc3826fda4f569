// Fuzz target: the changelog's keys and values (changelog_codec.h), and the ViewStore that
// applies them (views.h).
//
// 1. The whole input, as it is, through every decoder (a key, each kind of window value, a
//    partition state, a format 1 partial): "decoding never throws", and a bad record is an
//    invalid_data error.
// 2. The input as a recipe (FuzzedDataProvider) for a partial, a delta's changed terms, a
//    partition state, a group, a topic and a window: decode(encode(x)) == x for snapshots,
//    deltas, format 1 partials, both state formats and every key kind.
// 3. What is left of the input as a sequence of records, well-formed or not, applied to a
//    ViewStore, whose views are then read: bad records are errors, "never a crash".
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/fuzz_check.h"
#include "json/python_json.h"
#include "views/changelog_codec.h"
#include "views/views.h"

namespace {

using speedlayer::fuzz::shown;
namespace views = speedlayer::views;
using views::RecordKind;

std::vector<std::pair<std::string, std::uint64_t>> entries_of(std::string_view section) {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  views::codec::for_each_entry(
      section, [&](std::string_view term, std::uint64_t count) { out.emplace_back(term, count); });
  return out;
}

void decode_anything(std::string_view bytes) {
  auto key = views::parse_changelog_key(bytes);
  if (!key) SL_FUZZ_CHECK(key.error().kind == speedlayer::ErrorKind::invalid_data, "key");
  for (RecordKind kind :
       {RecordKind::legacy_window, RecordKind::snapshot, RecordKind::delta, RecordKind::state}) {
    auto v = views::decode_window_value(kind, bytes);
    if (!v) {
      SL_FUZZ_CHECK(v.error().kind == speedlayer::ErrorKind::invalid_data, v.error().message());
      continue;
    }
    std::string reason;
    SL_FUZZ_CHECK(views::codec::check_terms(v->terms, v->term_count, reason),
                  "a decoded terms section fails its own check: " + reason);
  }
  auto state = views::decode_state(bytes);
  if (!state) SL_FUZZ_CHECK(state.error().kind == speedlayer::ErrorKind::invalid_data, "state");
  auto partial = views::decode_partial(bytes);
  if (!partial) SL_FUZZ_CHECK(partial.error().kind == speedlayer::ErrorKind::invalid_data, "p");
}

views::Partial make_partial(FuzzedDataProvider& in) {
  views::Partial p;
  p.count = in.ConsumeIntegral<std::uint64_t>();
  p.term_error = in.ConsumeIntegral<std::uint64_t>();
  p.closed = in.ConsumeBool();
  p.late = in.ConsumeIntegral<std::uint64_t>();
  for (int n = in.ConsumeIntegralInRange(0, 12); n > 0; --n) {
    const std::string term = in.ConsumeRandomLengthString(80);
    p.terms.emplace(term, in.ConsumeIntegral<std::uint64_t>());
  }
  return p;
}

void check_window_value(const views::WindowValue& v, const views::Partial& p) {
  SL_FUZZ_CHECK(v.count == p.count && v.term_error == p.term_error && v.closed == p.closed,
                "header");
  SL_FUZZ_CHECK(v.term_count == p.terms.size(), std::to_string(v.term_count));
  const auto entries = entries_of(v.terms);
  const std::vector<std::pair<std::string, std::uint64_t>> want(p.terms.begin(), p.terms.end());
  SL_FUZZ_CHECK(entries == want, "terms section: " + shown(v.terms));
}

void round_trip_values(FuzzedDataProvider& in) {
  const views::Partial p = make_partial(in);
  const std::uint64_t gen = in.ConsumeIntegral<std::uint64_t>();
  const std::uint64_t seq = in.ConsumeIntegral<std::uint64_t>();

  const std::string snapshot = views::encode_snapshot(gen, p);
  auto s = views::decode_window_value(RecordKind::snapshot, snapshot);
  SL_FUZZ_CHECK(s.has_value(), s.error().message() + ": " + shown(snapshot));
  SL_FUZZ_CHECK(s->gen == gen && s->late == p.late, "snapshot gen/late");
  check_window_value(*s, p);

  // A delta's changed terms: any terms, repeats allowed (the writer never repeats one, but
  // the codec must not care), count 0 = removed.
  std::vector<std::string> storage;
  storage.reserve(8);
  for (int n = in.ConsumeIntegralInRange(0, 8); n > 0; --n)
    storage.push_back(in.ConsumeRandomLengthString(80));
  std::vector<std::pair<std::string_view, std::uint64_t>> changed;
  changed.reserve(storage.size());
  for (const std::string& t : storage) changed.emplace_back(t, in.ConsumeIntegral<std::uint64_t>());
  const std::string delta = views::encode_delta(gen, seq, p, changed);
  auto d = views::decode_window_value(RecordKind::delta, delta);
  SL_FUZZ_CHECK(d.has_value(), d.error().message() + ": " + shown(delta));
  SL_FUZZ_CHECK(d->gen == gen && d->seq == seq && d->late == p.late, "delta gen/seq/late");
  SL_FUZZ_CHECK(d->count == p.count && d->term_error == p.term_error && d->closed == p.closed,
                "delta header");
  const std::vector<std::pair<std::string, std::uint64_t>> want_changed(changed.begin(),
                                                                        changed.end());
  SL_FUZZ_CHECK(entries_of(d->terms) == want_changed && d->term_count == changed.size(),
                "delta terms: " + shown(d->terms));

  // Format 1 (no late count).
  const std::string legacy = views::encode_partial(p);
  auto l = views::decode_partial(legacy);
  SL_FUZZ_CHECK(l.has_value(), l.error().message() + ": " + shown(legacy));
  SL_FUZZ_CHECK(l->count == p.count && l->term_error == p.term_error && l->closed == p.closed &&
                    l->terms == p.terms,
                "format 1 partial: " + shown(legacy));
}

void round_trip_state(FuzzedDataProvider& in) {
  views::PartitionState s;
  s.stream_time = in.ConsumeIntegral<std::int64_t>();
  s.late = in.ConsumeIntegral<std::uint64_t>();
  s.long_terms = in.ConsumeIntegral<std::uint64_t>();
  s.consumed = in.ConsumeIntegral<std::uint64_t>();
  s.expired = in.ConsumeIntegral<std::uint64_t>();
  for (int n = in.ConsumeIntegralInRange(0, 4); n > 0; --n)
    s.malformed[in.ConsumeRandomLengthString(40)] = in.ConsumeIntegral<std::uint64_t>();

  const std::string binary = views::encode_state_v2(s);
  auto b = views::decode_state(binary);
  SL_FUZZ_CHECK(b.has_value(), b.error().message() + ": " + shown(binary));
  SL_FUZZ_CHECK(b->stream_time == s.stream_time && b->late == s.late &&
                    b->long_terms == s.long_terms && b->consumed == s.consumed &&
                    b->expired == s.expired && b->malformed == s.malformed,
                "binary state: " + shown(binary));

  // Format 1's JSON has no long_terms, and replaces invalid UTF-8 in reason names.
  const std::string text = views::encode_state(s);
  auto j = views::decode_state(text);
  SL_FUZZ_CHECK(j.has_value(), j.error().message() + ": " + shown(text));
  SL_FUZZ_CHECK(j->stream_time == s.stream_time && j->late == s.late && j->long_terms == 0 &&
                    j->consumed == s.consumed && j->expired == s.expired,
                "JSON state: " + shown(text));
  bool utf8 = true;
  for (const auto& [reason, n] : s.malformed)
    utf8 = utf8 && speedlayer::json::find_invalid_utf8(reason) == std::string_view::npos;
  if (utf8) SL_FUZZ_CHECK(j->malformed == s.malformed, "JSON state reasons: " + shown(text));
}

// A topic name as Kafka allows ([a-zA-Z0-9._-], 1..249): never '|', the key separator.
std::string make_topic(FuzzedDataProvider& in) {
  static constexpr char kChars[] = "abcXYZ019._-";
  std::string t;
  for (int n = in.ConsumeIntegralInRange(1, 20); n > 0; --n)
    t += kChars[in.ConsumeIntegralInRange<std::size_t>(0, sizeof kChars - 2)];
  return t;
}

void round_trip_keys(FuzzedDataProvider& in) {
  const std::string group = in.ConsumeRandomLengthString(40);
  const std::string topic = make_topic(in);
  const auto partition =
      in.ConsumeIntegralInRange<std::int32_t>(0, std::numeric_limits<std::int32_t>::max());
  const auto start = in.ConsumeIntegral<views::Millis>();
  const auto seq = in.ConsumeIntegral<std::uint64_t>();
  const views::ChangelogKeys keys(group);

  auto check = [&](const std::string& key, RecordKind kind, bool with_group) {
    auto k = views::parse_changelog_key(key);
    SL_FUZZ_CHECK(k.has_value(), k.error().message());
    SL_FUZZ_CHECK(k->kind == kind && k->topic == topic && k->partition == partition,
                  "key " + shown(key));
    if (with_group) SL_FUZZ_CHECK(k->group == group, "group of " + shown(key));
    if (k->is_window()) SL_FUZZ_CHECK(k->start == start, "start of " + shown(key));
    if (kind == RecordKind::delta) SL_FUZZ_CHECK(k->seq == seq, "seq of " + shown(key));
    if (with_group) SL_FUZZ_CHECK(key.size() <= keys.max_key_bytes(), "longer than max_key_bytes");
  };
  check(keys.snapshot(topic, partition, start), RecordKind::snapshot, true);
  check(keys.delta(topic, partition, start, seq), RecordKind::delta, true);
  check(keys.state(topic, partition), RecordKind::state, true);
  check(views::legacy_window_key(topic, partition, start), RecordKind::legacy_window, false);
  check(views::legacy_state_key(topic, partition), RecordKind::legacy_state, false);

  const auto partitions = in.ConsumeIntegralInRange<std::int32_t>(1, 64);
  const std::int32_t cp = views::changelog_partition(topic, partition, partitions);
  SL_FUZZ_CHECK(cp >= 0 && cp < partitions, std::to_string(cp));
}

// Records for a ViewStore, mostly well-formed (so that deltas meet their snapshots), some not.
void apply_records(FuzzedDataProvider& in) {
  views::WindowConfig config;
  config.size_ms = 1000;
  config.grace_ms = 100;
  config.top_k = 3;
  views::ViewStore store(config, "g");
  const views::ChangelogKeys keys("g");
  const std::string topics[] = {"t", "u"};
  for (int n = 0; n < 16 && in.remaining_bytes() > 0; ++n) {
    const std::string& topic = topics[in.ConsumeIntegralInRange(0, 1)];
    const auto partition = in.ConsumeIntegralInRange<std::int32_t>(0, 2);
    const views::Millis start = 1000 * in.ConsumeIntegralInRange<views::Millis>(-2, 5);
    const std::uint64_t gen = in.ConsumeIntegralInRange<std::uint64_t>(0, 3);
    const std::uint64_t seq = in.ConsumeIntegralInRange<std::uint64_t>(0, 3);
    std::string key, value;
    bool tombstone = false;
    switch (in.ConsumeIntegralInRange(0, 6)) {
      case 0:
        key = keys.snapshot(topic, partition, start);
        value = views::encode_snapshot(gen, make_partial(in));
        break;
      case 1: {
        key = keys.delta(topic, partition, start, seq);
        const views::Partial p = make_partial(in);
        std::vector<std::pair<std::string_view, std::uint64_t>> changed;
        for (const auto& [term, count] : p.terms) changed.emplace_back(term, count);
        value = views::encode_delta(gen, seq, p, changed);
        break;
      }
      case 2: {
        key = keys.state(topic, partition);
        views::PartitionState s;
        s.stream_time = in.ConsumeIntegralInRange<views::Millis>(-1, 10'000);
        s.late = in.ConsumeIntegral<std::uint8_t>();
        s.consumed = in.ConsumeIntegral<std::uint32_t>();
        value = views::encode_state_v2(s);
        break;
      }
      case 3:
        key = views::legacy_window_key(topic, partition, start);
        value = views::encode_partial(make_partial(in));
        break;
      case 4:
        key = keys.snapshot(topic, partition, start);  // a tombstone
        tombstone = true;
        break;
      case 5:
        key = keys.delta(topic, partition, start, seq);  // a well-keyed, random value
        value = in.ConsumeRandomLengthString(64);
        break;
      default:
        key = in.ConsumeRandomLengthString(64);
        value = in.ConsumeRandomLengthString(64);
        break;
    }
    const auto st =
        store.apply(key, tombstone ? std::nullopt : std::optional<std::string_view>(value));
    if (!st) SL_FUZZ_CHECK(!st.error().what.empty(), "an error without a message");
  }
  for (const auto& totals : store.totals()) {
    auto view = store.view(totals.topic, std::nullopt, std::nullopt, 100'000);
    if (view) SL_FUZZ_CHECK(!views::to_json(*view).empty(), totals.topic);
  }
  (void)views::to_json(store.totals());
  (void)store.open_windows(100'000);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  decode_anything(std::string_view(reinterpret_cast<const char*>(data), size));
  FuzzedDataProvider in(data, size);
  round_trip_values(in);
  round_trip_state(in);
  round_trip_keys(in);
  apply_records(in);
  return 0;
}
