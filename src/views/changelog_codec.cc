// Changelog keys and values (layout: changelog_codec.h).
#include "views/changelog_codec.h"

#include <charconv>
#include <limits>
#include <nlohmann/json.hpp>

#include "views/views.h"

namespace speedlayer::views {
namespace {

using nlohmann::json;

constexpr char kLegacyPartial = 0x01;
constexpr char kSnapshot = 0x02;
constexpr char kDelta = 0x03;
constexpr char kState = 0x04;
constexpr Millis kMaxMillis = std::numeric_limits<Millis>::max();

std::unexpected<Error> bad_value(std::string_view what_kind, const std::string& reason) {
  return fail(ErrorKind::invalid_data, "invalid " + std::string(what_kind) + ": " + reason, "",
              "the changelog record was not written by this speedlayer version or is corrupt; "
              "it is skipped");
}

bool get_u64(const json& obj, const char* field, bool required, std::uint64_t& out,
             std::string& reason) {
  auto it = obj.find(field);
  if (it == obj.end()) {
    if (required) reason = std::string("missing field \"") + field + "\"";
    return !required;
  }
  if (!it->is_number_unsigned()) {
    reason = std::string("field \"") + field + "\" is not a non-negative integer";
    return false;
  }
  out = it->get<std::uint64_t>();
  return true;
}

template <class Map>
bool get_count_map(const json& obj, const char* field, Map& out, std::string& reason) {
  auto it = obj.find(field);
  if (it == obj.end()) return true;
  if (!it->is_object()) {
    reason = std::string("field \"") + field + "\" is not an object";
    return false;
  }
  for (auto e = it->begin(); e != it->end(); ++e) {
    if (!e.value().is_number_unsigned()) {
      reason = std::string("field \"") + field + "\": value of \"" + e.key() +
               "\" is not a non-negative integer";
      return false;
    }
    out.emplace(e.key(), e.value().get<std::uint64_t>());
  }
  return true;
}

bool parse_int(std::string_view s, std::int64_t& out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

bool parse_uint(std::string_view s, std::uint64_t& out) {
  if (s.empty() || s[0] == '-' || s[0] == '+') return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

std::string escape_group(std::string_view group) {
  std::string out;
  out.reserve(group.size());
  for (char c : group) {
    if (c == '%') {
      out += "%25";
    } else if (c == '|') {
      out += "%7C";
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<std::string> unescape_group(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    const std::string_view code = s.substr(i + 1, 2);
    if (code == "25") {
      out += '%';
    } else if (code == "7C") {
      out += '|';
    } else {
      return std::nullopt;
    }
    i += 2;
  }
  return out;
}

void append_int(std::string& out, std::int64_t v) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, v);
  (void)ec;  // 24 chars hold any int64
  out.append(digits, end);
}

// "<prefix><kind>|<topic>|<partition>" (the fields every key starts with).
std::string key_head(std::string_view prefix, std::string_view kind, std::string_view topic,
                     std::int32_t partition) {
  std::string key(prefix);
  key += kind;
  key += '|';
  key.append(topic);
  key += '|';
  append_int(key, partition);
  return key;
}

// The header shared by snapshots and deltas (format 2), after the format byte and gen (and
// seq); format 1 has no late count.
void put_header(std::string& out, const Partial& p, bool with_late = true) {
  codec::put_varint(out, p.count);
  codec::put_varint(out, p.term_error);
  out += static_cast<char>(p.closed ? 1 : 0);
  if (with_late) codec::put_varint(out, p.late);
}

// Reads count, term_error, closed, (late,) n and the terms section (checked) into `v`.
bool take_header_and_terms(std::string_view in, WindowValue& v, std::string& reason,
                           bool with_late = true) {
  if (!codec::take_varint(in, v.count) || !codec::take_varint(in, v.term_error)) {
    reason = "binary header cut short";
    return false;
  }
  if (in.empty() || static_cast<unsigned char>(in.front()) > 1) {
    reason = "binary \"closed\" flag missing or not 0/1";
    return false;
  }
  v.closed = in.front() == 1;
  in.remove_prefix(1);
  if (with_late && !codec::take_varint(in, v.late)) {
    reason = "binary late count cut short";
    return false;
  }
  if (!codec::take_varint(in, v.term_count)) {
    reason = "binary term count cut short";
    return false;
  }
  if (!codec::check_terms(in, v.term_count, reason)) return false;
  v.terms.assign(in);
  return true;
}

Result<WindowValue> decode_legacy_json(std::string_view text) {
  WindowValue v;
  try {
    json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return bad_value("window partial", "not JSON");
    if (!j.is_object()) return bad_value("window partial", "not a JSON object");
    std::string reason;
    if (!get_u64(j, "count", true, v.count, reason) ||
        !get_u64(j, "term_error", false, v.term_error, reason))
      return bad_value("window partial", reason);
    if (j.find("terms") == j.end()) return bad_value("window partial", "missing field \"terms\"");
    TermCounts terms;
    if (!get_count_map(j, "terms", terms, reason)) return bad_value("window partial", reason);
    if (auto c = j.find("closed"); c != j.end()) {
      if (!c->is_boolean()) return bad_value("window partial", "field \"closed\" is not a boolean");
      v.closed = c->get<bool>();
    }
    v.term_count = terms.size();
    for (const auto& [term, count] : terms) codec::put_term(v.terms, term, count);
    return v;
  } catch (const std::exception& e) {
    return bad_value("window partial", e.what());
  }
}

Result<PartitionState> decode_state_json(std::string_view text) {
  try {
    json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return bad_value("partition state", "not JSON");
    if (!j.is_object()) return bad_value("partition state", "not a JSON object");
    PartitionState s;
    auto st = j.find("stream_time");
    if (st == j.end()) return bad_value("partition state", "missing field \"stream_time\"");
    if (!st->is_number_integer())
      return bad_value("partition state", "field \"stream_time\" is not an integer");
    if (st->is_number_unsigned()) {
      const auto u = st->get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(kMaxMillis))
        return bad_value("partition state", "field \"stream_time\" is out of range");
      s.stream_time = static_cast<Millis>(u);
    } else {
      s.stream_time = st->get<std::int64_t>();
    }
    std::string reason;
    if (!get_u64(j, "late", true, s.late, reason) ||
        !get_u64(j, "consumed", true, s.consumed, reason) ||
        !get_u64(j, "expired", false, s.expired, reason) ||
        !get_u64(j, "long_terms", false, s.long_terms, reason) ||
        !get_count_map(j, "malformed", s.malformed, reason))
      return bad_value("partition state", reason);
    return s;
  } catch (const std::exception& e) {
    return bad_value("partition state", e.what());
  }
}

}  // namespace

// ---- varints and term sections ------------------------------------------------------------

namespace codec {

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

bool take_varint(std::string_view& in, std::uint64_t& v) {
  v = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (in.empty()) return false;
    const auto b = static_cast<unsigned char>(in.front());
    in.remove_prefix(1);
    if (shift == 63 && b > 1) return false;
    v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

void put_term(std::string& out, std::string_view term, std::uint64_t count) {
  put_varint(out, term.size());
  out.append(term);
  put_varint(out, count);
}

bool take_term(std::string_view& in, std::string_view& term, std::uint64_t& count) {
  std::uint64_t length = 0;
  if (!take_varint(in, length) || length > in.size()) return false;
  term = in.substr(0, static_cast<std::size_t>(length));
  in.remove_prefix(static_cast<std::size_t>(length));
  return take_varint(in, count);
}

bool check_terms(std::string_view in, std::uint64_t n, std::string& reason) {
  std::string_view term;
  std::uint64_t count = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    if (!take_term(in, term, count)) {
      reason = "binary term " + std::to_string(i + 1) + " of " + std::to_string(n) + " cut short";
      return false;
    }
  }
  if (!in.empty()) {
    reason = std::to_string(in.size()) + " trailing byte(s) after the terms";
    return false;
  }
  return true;
}

std::size_t max_window_value_bytes(std::size_t terms, std::size_t term_bytes) {
  // Format byte, gen, seq, count, term_error, late (10-byte varints at most), closed, n; then per
  // term a length varint (term_bytes < 2^14: 2 bytes), the bytes, a count varint.
  return 1 + 6 * 10 + 1 + 10 + terms * (2 + term_bytes + 10);
}

}  // namespace codec

// ---- keys ---------------------------------------------------------------------------------

ChangelogKeys::ChangelogKeys(std::string_view group)
    : group_(group), prefix_("2|" + escape_group(group) + "|") {}

std::string ChangelogKeys::snapshot(std::string_view topic, std::int32_t partition,
                                    Millis start) const {
  std::string key = key_head(prefix_, "s", topic, partition);
  key += '|';
  append_int(key, start);
  return key;
}

std::string ChangelogKeys::delta(std::string_view topic, std::int32_t partition, Millis start,
                                 std::uint64_t seq) const {
  std::string key = key_head(prefix_, "d", topic, partition);
  key += '|';
  append_int(key, start);
  key += '|';
  key += std::to_string(seq);
  return key;
}

std::string ChangelogKeys::state(std::string_view topic, std::int32_t partition) const {
  return key_head(prefix_, "p", topic, partition);
}

std::size_t ChangelogKeys::max_key_bytes() const {
  return prefix_.size() + 2 + 249 + 1 + 11 + 1 + 20 + 1 + 20;
}

std::string legacy_window_key(std::string_view topic, std::int32_t partition, Millis start) {
  std::string key = key_head("", "w", topic, partition);
  key += '|';
  append_int(key, start);
  return key;
}

std::string legacy_state_key(std::string_view topic, std::int32_t partition) {
  return key_head("", "p", topic, partition);
}

Result<ChangelogKey> parse_changelog_key(std::string_view key) {
  auto bad = [&](const std::string& reason) {
    return fail(ErrorKind::invalid_data, "invalid changelog key: " + reason, std::string(key),
                "expected \"2|<group>|s|<topic>|<partition>|<start>\", \"2|<group>|d|...|<seq>\", "
                "\"2|<group>|p|<topic>|<partition>\" or format 1's \"w|...\"/\"p|...\"");
  };
  std::vector<std::string_view> parts;
  std::size_t pos = 0;
  for (;;) {
    const std::size_t bar = key.find('|', pos);
    parts.push_back(key.substr(pos, bar == std::string_view::npos ? bar : bar - pos));
    if (bar == std::string_view::npos) break;
    if (parts.size() > 8) return bad("too many fields");
    pos = bar + 1;
  }
  ChangelogKey out;
  std::size_t first = 0;  // index of the kind
  if (parts[0] == "2") {
    if (parts.size() < 5) return bad("a format 2 key has at least 5 fields");
    auto group = unescape_group(parts[1]);
    if (!group) return bad("bad escape in the group");
    out.group = std::move(*group);
    first = 2;
  }
  const std::string_view kind = parts[first];
  const std::size_t fields = parts.size() - first;
  if (first == 0 && kind == "w") {
    if (fields != 4) return bad("a window key has 4 fields separated by '|'");
    out.kind = RecordKind::legacy_window;
  } else if (first == 0 && kind == "p") {
    if (fields != 3) return bad("a state key has 3 fields separated by '|'");
    out.kind = RecordKind::legacy_state;
  } else if (first == 2 && kind == "s") {
    if (fields != 4) return bad("a snapshot key has 4 fields after the group");
    out.kind = RecordKind::snapshot;
  } else if (first == 2 && kind == "d") {
    if (fields != 5) return bad("a delta key has 5 fields after the group");
    out.kind = RecordKind::delta;
  } else if (first == 2 && kind == "p") {
    if (fields != 3) return bad("a state key has 3 fields after the group");
    out.kind = RecordKind::state;
  } else {
    return bad("unknown kind");
  }
  if (parts[first + 1].empty()) return bad("empty topic");
  out.topic.assign(parts[first + 1]);
  std::int64_t partition = 0;
  if (!parse_int(parts[first + 2], partition) || partition < 0 ||
      partition > std::numeric_limits<std::int32_t>::max())
    return bad("partition is not a non-negative 32-bit integer");
  out.partition = static_cast<std::int32_t>(partition);
  if (out.is_window() && !parse_int(parts[first + 3], out.start))
    return bad("window start is not a 64-bit integer");
  if (out.kind == RecordKind::delta && !parse_uint(parts[first + 4], out.seq))
    return bad("delta sequence number is not an unsigned integer");
  return out;
}

std::int32_t changelog_partition(std::string_view topic, std::int32_t partition,
                                 std::int32_t changelog_partitions) {
  if (changelog_partitions <= 1) return 0;
  std::uint32_t h = 2166136261u;
  auto mix = [&h](char c) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619u;
  };
  for (char c : topic) mix(c);
  mix('|');
  for (char c : std::to_string(partition)) mix(c);
  return static_cast<std::int32_t>(h % static_cast<std::uint32_t>(changelog_partitions));
}

// ---- window values ------------------------------------------------------------------------

std::string encode_snapshot(std::uint64_t gen, const Partial& p) {
  std::string out;
  out.reserve(24 + p.terms.size() * 12);
  out += kSnapshot;
  codec::put_varint(out, gen);
  put_header(out, p);
  codec::put_varint(out, p.terms.size());
  for (const auto& [term, count] : p.terms) codec::put_term(out, term, count);
  return out;
}

std::string encode_delta(std::uint64_t gen, std::uint64_t seq, const Partial& p,
                         const std::vector<std::pair<std::string_view, std::uint64_t>>& changed) {
  std::string out;
  out.reserve(32 + changed.size() * 12);
  out += kDelta;
  codec::put_varint(out, gen);
  codec::put_varint(out, seq);
  put_header(out, p);
  codec::put_varint(out, changed.size());
  for (const auto& [term, count] : changed) codec::put_term(out, term, count);
  return out;
}

Result<WindowValue> decode_window_value(RecordKind kind, std::string_view value) {
  WindowValue v;
  std::string reason;
  switch (kind) {
    case RecordKind::legacy_window:
      if (!value.empty() && value.front() == kLegacyPartial) {
        value.remove_prefix(1);
        if (!take_header_and_terms(value, v, reason, /*with_late=*/false))
          return bad_value("window partial", reason);
        return v;
      }
      return decode_legacy_json(value);
    case RecordKind::snapshot:
      if (value.empty() || value.front() != kSnapshot)
        return bad_value("window snapshot", "not format 2 (first byte 0x02)");
      value.remove_prefix(1);
      if (!codec::take_varint(value, v.gen)) return bad_value("window snapshot", "gen cut short");
      if (!take_header_and_terms(value, v, reason)) return bad_value("window snapshot", reason);
      return v;
    case RecordKind::delta:
      if (value.empty() || value.front() != kDelta)
        return bad_value("window delta", "not format 2 (first byte 0x03)");
      value.remove_prefix(1);
      if (!codec::take_varint(value, v.gen) || !codec::take_varint(value, v.seq))
        return bad_value("window delta", "gen or seq cut short");
      if (!take_header_and_terms(value, v, reason)) return bad_value("window delta", reason);
      return v;
    default:
      return bad_value("window record", "not a window key");
  }
}

// ---- partition state ----------------------------------------------------------------------

std::string encode_state_v2(const PartitionState& s) {
  std::string out;
  out += kState;
  // zigzag: stream time is -1 before the first record
  const auto t = static_cast<std::uint64_t>(s.stream_time);
  codec::put_varint(out, (t << 1) ^ static_cast<std::uint64_t>(s.stream_time >> 63));
  codec::put_varint(out, s.late);
  codec::put_varint(out, s.consumed);
  codec::put_varint(out, s.expired);
  codec::put_varint(out, s.long_terms);
  codec::put_varint(out, s.malformed.size());
  for (const auto& [reason, n] : s.malformed) codec::put_term(out, reason, n);
  return out;
}

Result<PartitionState> decode_state(std::string_view value) {
  if (value.empty() || value.front() != kState) return decode_state_json(value);
  value.remove_prefix(1);
  PartitionState s;
  std::uint64_t zz = 0, n = 0;
  if (!codec::take_varint(value, zz) || !codec::take_varint(value, s.late) ||
      !codec::take_varint(value, s.consumed) || !codec::take_varint(value, s.expired) ||
      !codec::take_varint(value, s.long_terms) || !codec::take_varint(value, n))
    return bad_value("partition state", "binary header cut short");
  s.stream_time = static_cast<Millis>(zz >> 1) ^ -static_cast<Millis>(zz & 1);
  std::string reason;
  if (!codec::check_terms(value, n, reason)) return bad_value("partition state", reason);
  codec::for_each_entry(
      value, [&](std::string_view r, std::uint64_t c) { s.malformed.emplace(std::string(r), c); });
  return s;
}

// ---- format 1 -----------------------------------------------------------------------------

std::string encode_partial(const Partial& p) {
  std::string out;
  out.reserve(16 + p.terms.size() * 12);
  out += kLegacyPartial;
  put_header(out, p, /*with_late=*/false);
  codec::put_varint(out, p.terms.size());
  for (const auto& [term, count] : p.terms) codec::put_term(out, term, count);
  return out;
}

std::string encode_state(const PartitionState& s) {
  json j = json::object();
  j["stream_time"] = s.stream_time;
  j["late"] = s.late;
  j["consumed"] = s.consumed;
  j["expired"] = s.expired;
  json& malformed = j["malformed"] = json::object();
  for (const auto& [reason, count] : s.malformed) malformed[reason] = count;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<Partial> decode_partial(std::string_view value) {
  SL_ASSIGN_OR_RETURN(WindowValue v, decode_window_value(RecordKind::legacy_window, value));
  Partial p;
  p.count = v.count;
  p.term_error = v.term_error;
  p.closed = v.closed;
  p.terms.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(v.term_count, value.size())));
  codec::for_each_entry(
      v.terms, [&](std::string_view term, std::uint64_t count) { p.terms.emplace(term, count); });
  return p;
}

}  // namespace speedlayer::views
