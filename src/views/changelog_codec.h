// The changelog's keys and values: how `serve`'s state is laid out in its compacted topic.
//
// Layout (format 2, written since issue 12; format 1 is still read, see "Upgrades"):
//
//   key                                       value (binary, varint = unsigned LEB128)
//   2|<group>|s|<topic>|<partition>|<start>   snapshot of a window: 0x02, gen, count,
//                                             term_error, closed (byte 0|1), late, n, n terms
//   2|<group>|d|<topic>|<partition>|<start>|<seq>
//                                             delta of a window: 0x03, gen, seq, count,
//                                             term_error, closed, late, n, n terms (count 0 = the
//                                             term left the partial: Space-Saving evicted it)
//   2|<group>|p|<topic>|<partition>           partition state: 0x04, zigzag stream_time,
//                                             late, consumed, expired, long_terms, n, n
//                                             (reason, count)
//   a term: varint length, its bytes, varint count (absolute, not an increment)
//
// <group> is the consumer group with '%' and '|' percent-escaped: records name the deployment
// they belong to, so a changelog shared by mistake never mixes two groups (ViewStore ignores
// and counts foreign records). Topic names cannot contain '|'.
//
// Why this shape: a commit writes only what changed. A window's state is its latest snapshot
// plus the deltas of the same generation (gen) after it, in seq order; each delta carries the
// window's absolute count, error bound and closed flag, and the terms whose counts changed
// since the previous record (absolute counts, so a delta costs about what its records' words
// cost). When a generation's deltas outgrow its snapshot (or a window closes), the writer
// starts a new generation: a snapshot with gen + 1 and tombstones for the old deltas' keys, in
// the same transaction. Delta keys are reused by every generation (seq restarts at 0), so
// compaction keeps, per window, one snapshot and at most one generation of deltas: the
// retained size follows the live state, not the history. Every record of one input
// partition goes to one changelog partition (changelog_partition()), so readers see them in
// the order they were written.
//
// Upgrades: format 1 keys ("w|<topic>|<partition>|<start>", "p|<topic>|<partition>", full
// partials in binary 0x01 or JSON) carry no group; a group reading a topic that holds them
// adopts them (restore), rewrites them as format 2 and tombstones them in its first
// transaction. A reader prefers format 2 state of a partition over format 1 records.
//
// Decoding never throws; a bad key or value is ErrorKind::invalid_data with the reason.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace speedlayer::views {

using Millis = std::int64_t;
struct Partial;
struct PartitionState;

namespace codec {
void put_varint(std::string& out, std::uint64_t v);
// Reads an unsigned LEB128 value off the front of `in`; false if cut short or over 64 bits.
bool take_varint(std::string_view& in, std::uint64_t& v);
void put_term(std::string& out, std::string_view term, std::uint64_t count);
// Takes one term entry off the front of `in`; false if it is cut short.
bool take_term(std::string_view& in, std::string_view& term, std::uint64_t& count);
// Checks a terms section holding exactly `n` entries (nothing after them).
bool check_terms(std::string_view section, std::uint64_t n, std::string& reason);
// f(term, count) for each entry of a section already checked.
template <class F>
void for_each_entry(std::string_view section, F&& f) {
  std::string_view term;
  std::uint64_t count = 0;
  while (take_term(section, term, count)) f(term, count);
}
// Bytes of a window record holding `terms` terms of at most `term_bytes` bytes each: every
// record serve writes for a window is at most this (snapshots hold at most max_terms terms;
// a delta larger than its snapshot would be is written as a snapshot instead).
std::size_t max_window_value_bytes(std::size_t terms, std::size_t term_bytes);
}  // namespace codec

enum class RecordKind { legacy_window, legacy_state, snapshot, delta, state };

struct ChangelogKey {
  RecordKind kind = RecordKind::state;
  std::string group;  // format 2 only
  std::string topic;
  std::int32_t partition = -1;
  Millis start = 0;       // windows
  std::uint64_t seq = 0;  // deltas
  bool is_window() const { return kind != RecordKind::legacy_state && kind != RecordKind::state; }
  bool legacy() const {
    return kind == RecordKind::legacy_window || kind == RecordKind::legacy_state;
  }
};
Result<ChangelogKey> parse_changelog_key(std::string_view key);

// Format 2 keys of one group.
class ChangelogKeys {
 public:
  explicit ChangelogKeys(std::string_view group = {});
  std::string snapshot(std::string_view topic, std::int32_t partition, Millis start) const;
  std::string delta(std::string_view topic, std::int32_t partition, Millis start,
                    std::uint64_t seq) const;
  std::string state(std::string_view topic, std::int32_t partition) const;
  const std::string& group() const { return group_; }
  // The longest key for this group and a topic name of Kafka's maximum length (249).
  std::size_t max_key_bytes() const;

 private:
  std::string group_;
  std::string prefix_;  // "2|<escaped group>|"
};

// Format 1 keys (read for upgrades; tombstoned once adopted).
std::string legacy_window_key(std::string_view topic, std::int32_t partition, Millis start);
std::string legacy_state_key(std::string_view topic, std::int32_t partition);

// The changelog partition of every record of input (topic, partition): FNV-1a of
// "<topic>|<partition>" modulo the changelog's partition count.
std::int32_t changelog_partition(std::string_view topic, std::int32_t partition,
                                 std::int32_t changelog_partitions);

// A window record's value: the window's header and its terms section (varint-length terms
// with varint counts; for a delta, count 0 = removed).
struct WindowValue {
  std::uint64_t gen = 0;  // format 1: 0
  std::uint64_t seq = 0;  // deltas
  std::uint64_t count = 0, term_error = 0, term_count = 0;
  bool closed = false;
  std::uint64_t late = 0;  // format 2
  std::string terms;
};
std::string encode_snapshot(std::uint64_t gen, const Partial& p);
// A delta of `changed` (term, absolute count; 0 = removed).
std::string encode_delta(std::uint64_t gen, std::uint64_t seq, const Partial& p,
                         const std::vector<std::pair<std::string_view, std::uint64_t>>& changed);
// Decodes a value of `kind` (legacy_window: binary 0x01 or JSON; snapshot; delta).
Result<WindowValue> decode_window_value(RecordKind kind, std::string_view value);

std::string encode_state_v2(const PartitionState& s);
// Binary (0x04) or the JSON of format 1.
Result<PartitionState> decode_state(std::string_view value);

// ---- Format 1 (tests and upgrades) ----
std::string encode_partial(const Partial& p);       // binary 0x01
std::string encode_state(const PartitionState& s);  // JSON
Result<Partial> decode_partial(std::string_view value);
// Format 1 key builders under their old names.
inline std::string changelog_window_key(std::string_view topic, std::int32_t partition,
                                        Millis start) {
  return legacy_window_key(topic, partition, start);
}
inline std::string changelog_state_key(std::string_view topic, std::int32_t partition) {
  return legacy_state_key(topic, partition);
}

}  // namespace speedlayer::views
