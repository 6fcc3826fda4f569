// The speed layer's real-time views: tumbling-window aggregates of message counts and term
// frequencies per topic, kept as additive *partials* per (topic, input partition, window), so
// that state and consumed offsets can move together in one Kafka transaction, and any replica
// can serve a whole topic by merging every partition's partials from the changelog.
//
//   WindowConfig cfg;                                  // 60 s windows, 10 s grace, top 10
//   PartitionAggregator agg("Sport", 0, cfg, ChangelogKeys("my-group"));  // the processor's
//   auto text = extract_text(value, "text", "", 1 << 20);
//   agg.add(event_time_ms, text.text);                 // counted or late
//   std::vector<ChangelogRecord> records;
//   agg.take_changelog(records);                       // what changed: deltas, snapshots,
//   for (auto& r : records) send(r.key, r.value);      // tombstones, state (changelog_codec.h)
//
//   ViewStore store(cfg, "my-group");                  // fed by the changelog reader
//   store.apply(key, value);                           // value nullopt = tombstone
//   auto view = store.view("Sport", {}, {}, now_ms);   // merged across partitions
//
// Semantics (as Kafka Streams' TimeWindows): windows [start, start + size) aligned to the
// epoch; stream time = highest event time seen on the input partition; a record whose window
// end + grace <= stream time is *late*: not added, counted per partition (never silently
// dropped). A window is closed (final) when stream time passes end + grace, or, for an idle
// partition, when wall-clock time passes end + grace + idle (wall-clock fallback). A partition
// is idle when no record reached it for `idle_ms` of wall-clock time (mark_active): a
// partition catching up on old data closes its windows by stream time only, as in Kafka
// Streams, instead of closing every window at once and reopening it with the next record.
//
// A record for a window that the wall-clock fallback closed but that is not late by stream
// time is still counted (exactness first): the window reopens (closed = false, dirty), and
// once the partition is idle again close_due closes it again, so the processor re-emits its
// output record (keyed per input partition, it supersedes the earlier one).
//
// Term counts and their error bound (Space-Saving, Metwally et al. 2005). A partial keeps at
// most `max_terms` distinct terms. While it has fewer, counts are exact (term_error = 0). A new
// term arriving at a full partial replaces the term with the smallest count m, and gets count
// m + 1; term_error = max(term_error, m). Then for every kept term:
//     true count <= kept count <= true count + term_error,
// a term not kept has true count <= term_error, and term_error <= occurrences / max_terms
// (occurrences = all term occurrences added to the partial). So every term occurring more than
// occurrences / max_terms times is kept. Merged across partitions (the ViewStore sums counts
// per term), the overestimate of a merged count is at most the sum of the partials'
// term_error, and a term missing from some partial may be undercounted by that partial's
// term_error.
#pragma once

// One header per concern, all included here: include this one.
#include "views/aggregator.h"       // PartitionAggregator
#include "views/changelog_codec.h"  // the changelog's keys and values
#include "views/extract.h"          // extract_text: a message value to text and event time
#include "views/live_snapshot.h"    // LiveSnapshotCache
#include "views/output.h"           // the output topic's closed-window record
#include "views/term_counts.h"      // TermCounts, Partial, truncate_terms
#include "views/tokenizer.h"        // for_each_term, TermHash
#include "views/view_store.h"       // ViewStore, the served views and their HTTP bodies
#include "views/window.h"           // WindowConfig, window_start
