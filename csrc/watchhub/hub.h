// Watch fan-out: match one object event against many watchers and queue a
// (slot, event type) pair for each watcher it concerns.
//
// The Python side (pykube_core/watch_hub.py) interns every namespace, label
// key and value that some watcher names, and passes events as interned ids.
// Value id 0 is reserved for "a value no watcher names", so it equals no
// requirement's value. Event label keys that no watcher names are left out
// by Python, because no requirement can test them.
//
// Each watcher sits in exactly one bucket, chosen from its own filter:
//   1. the index-field bucket of value X when its field selector contains
//      the requirement index_field=X (the node agents' spec.nodeName=X);
//   2. else the namespace bucket of its namespace;
//   3. else the unindexed list.
// A publish visits the buckets of the new and the old object's namespace and
// index-field value, plus the unindexed list. A watcher outside those buckets
// cannot match either object, so the cost of a publish grows with the
// watchers in the visited buckets, not with all watchers.
//
// Thread safety: every public method takes the hub's mutex, so publish may
// run with the GIL released while another thread adds or drains.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "selector/match.h"

namespace pykube::watchhub {

// Event types, as stored in the queues. Python maps them to the wire strings.
enum class EventType : std::int8_t {
    Added = 0,
    Modified = 1,
    Deleted = 2,
};

constexpr std::int8_t kMaxEventType = static_cast<std::int8_t>(EventType::Deleted);

// A watcher's namespace id when it watches every namespace. Events use it
// for a namespace that no watcher names.
constexpr std::int32_t kAnyNamespace = -1;

// The hub's index_field when no field is indexed.
constexpr std::int32_t kNoIndexField = -1;

// Field requirement operators.
enum class FieldOp : std::int8_t {
    Equals = 0,
    NotEquals = 1,
};

struct FieldTerm {
    std::int32_t field;     // column in the event's field values
    std::int32_t value_id;  // interned value, never 0
    FieldOp op;
};

// The filter and queue capacity of a new watcher, owned by the hub once added.
struct WatcherSpec {
    std::int32_t namespace_id = kAnyNamespace;
    bool matches_nothing = false;
    // The label selector in the layout of selector::CompiledSelector.
    std::vector<std::int8_t> ops;
    std::vector<std::int32_t> key_ids;
    std::vector<std::int64_t> value_offsets{0};
    std::vector<std::int32_t> value_ids;
    std::vector<FieldTerm> fields;
    std::int64_t capacity = 0;  // maximum pending deliveries, at least 1
};

// Borrowed views of one object state of an event. The caller owns the
// memory and keeps it alive and unchanged for the duration of publish.
struct ObjectView {
    std::int32_t namespace_id;
    const std::int32_t* key_ids;  // label_count entries, strictly increasing
    const std::int32_t* value_ids;
    std::int64_t label_count;
    const std::int32_t* field_values;  // field_count entries
};

// Watcher ids touched by one publish.
struct PublishResult {
    std::vector<std::int64_t> delivered;   // got one (slot, type) pair queued
    std::vector<std::int64_t> overflowed;  // queue was full: now stopped
};

// The pending deliveries of one watcher, taken by drain.
struct Drained {
    std::vector<std::int64_t> slots;
    std::vector<std::int8_t> types;
    std::int64_t overflow_slot = -1;  // slot of the first event that did not fit, or -1
};

class Hub {
   public:
    // field_count: field values per event. index_field: the column whose
    // exact-match requirements are indexed, or kNoIndexField.
    Hub(std::int32_t field_count, std::int32_t index_field);

    std::int32_t field_count() const { return field_count_; }
    std::int32_t index_field() const { return index_field_; }

    // Adds a watcher and returns its id. Ids start at 1 and are never reused.
    // The caller has validated spec against field_count.
    std::int64_t add(WatcherSpec spec);

    // Removes a watcher and moves its pending slots into *pending. Returns
    // false, touching nothing, when id is unknown.
    bool remove(std::int64_t id, Drained* pending);

    // Matches one event against the watchers of the visited buckets and
    // queues (slot, delivered type) for each one concerned. For Modified,
    // `old` is the previous state. A watcher matching both gets Modified,
    // the new state only Added, the old state only Deleted. For Added and
    // Deleted only `object` is tested and `old` is ignored. Touches no
    // Python object, so the caller may release the GIL around it.
    void publish(std::int64_t slot, EventType type, const ObjectView& object,
                 const ObjectView& old, PublishResult* result);

    // Moves the watcher's pending deliveries into *out, oldest first.
    // Returns false when id is unknown.
    bool drain(std::int64_t id, Drained* out);

    // Returns the number of pending deliveries, or -1 when id is unknown.
    std::int64_t pending(std::int64_t id) const;

    std::size_t size() const;

    // Returns an estimate of the heap bytes held by watchers, buckets and
    // queues (vector capacities, not allocator overhead).
    std::size_t footprint_bytes() const;

   private:
    enum class BucketKind : std::int8_t { Unindexed, Namespace, IndexField };

    struct Delivery {
        std::int64_t slot;
        std::int8_t type;
    };

    // Fields used on every visit come first, so one visit touches few cache
    // lines: this struct, the selector storage and the queue.
    struct Watcher {
        std::int32_t namespace_id = kAnyNamespace;
        bool matches_nothing = false;
        bool overflowed = false;
        bool active = false;
        BucketKind bucket_kind = BucketKind::Unindexed;
        std::int32_t requirement_count = 0;
        std::int32_t selector_value_count = 0;
        std::int64_t capacity = 0;
        std::int64_t id = 0;
        // The label selector in one allocation: requirement_count + 1 value
        // offsets (int64), then requirement_count key ids and
        // selector_value_count value ids (int32), then requirement_count
        // operator codes (int8).
        std::vector<std::int64_t> selector_storage;
        std::vector<FieldTerm> fields;
        std::vector<Delivery> pending;
        std::int32_t bucket_key = 0;
        std::uint32_t bucket_position = 0;
        std::int64_t overflow_slot = -1;

        selector::CompiledSelector selector() const;
    };

    using Bucket = std::vector<std::uint32_t>;

    bool matches(const Watcher& watcher, const ObjectView& object,
                 const std::int64_t* label_offsets) const;
    void visit(const Bucket& bucket, std::int64_t slot, EventType type,
               const ObjectView& object, const ObjectView& old, PublishResult* result);
    void deliver(Watcher& watcher, std::int64_t slot, EventType type, PublishResult* result);
    static void pack_selector(const WatcherSpec& spec, Watcher* watcher);
    Bucket* bucket_of(BucketKind kind, std::int32_t key);
    static const Bucket* find_bucket(const std::vector<Bucket>& buckets, std::int32_t key);
    void take_pending(Watcher& watcher, Drained* out);
    void release(std::uint32_t index);

    const std::int32_t field_count_;
    const std::int32_t index_field_;
    std::int64_t next_id_ = 1;
    std::vector<Watcher> watchers_;
    std::vector<std::uint32_t> free_indexes_;
    std::unordered_map<std::int64_t, std::uint32_t> index_of_id_;
    std::vector<Bucket> namespace_buckets_;  // by namespace id
    std::vector<Bucket> field_buckets_;      // by value id of index_field
    Bucket unindexed_;
    mutable std::mutex mutex_;
};

}  // namespace pykube::watchhub
