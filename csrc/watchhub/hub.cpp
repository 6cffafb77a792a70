// Watch fan-out hub. hub.h describes the buckets and the event layout.
#include "watchhub/hub.h"

#include <algorithm>
#include <utility>

#include "common/debug.h"

namespace pykube::watchhub {
namespace {

// A drained queue keeps its allocation up to this many entries, so a watcher
// that receives a steady trickle does not reallocate on every publish. A
// queue that grew larger during a burst is freed, so an idle watcher keeps
// at most 64 entries of 16 bytes.
constexpr std::size_t kKeptQueueEntries = 64;

template <typename T>
std::size_t vector_bytes(const std::vector<T>& vector) {
    return vector.capacity() * sizeof(T);
}

// Returns how many int64 words hold the packed selector of Watcher.
std::size_t selector_words(std::size_t requirements, std::size_t values) {
    const std::size_t bytes = (requirements + 1) * sizeof(std::int64_t)
                              + (requirements + values) * sizeof(std::int32_t)
                              + requirements * sizeof(std::int8_t);
    return (bytes + sizeof(std::int64_t) - 1) / sizeof(std::int64_t);
}

}  // namespace

selector::CompiledSelector Hub::Watcher::selector() const {
    selector::CompiledSelector compiled{};
    const std::int64_t* offsets = selector_storage.data();
    const auto* key_ids = reinterpret_cast<const std::int32_t*>(offsets + requirement_count + 1);
    const std::int32_t* value_ids = key_ids + requirement_count;
    compiled.value_offsets = offsets;
    compiled.key_ids = key_ids;
    compiled.value_ids = value_ids;
    compiled.ops = reinterpret_cast<const std::int8_t*>(value_ids + selector_value_count);
    compiled.requirement_count = requirement_count;
    return compiled;
}

Hub::Hub(std::int32_t field_count, std::int32_t index_field)
    : field_count_(field_count), index_field_(index_field) {}

std::int64_t Hub::add(WatcherSpec spec) {
    std::lock_guard<std::mutex> lock(mutex_);

    std::uint32_t index = 0;
    if (!free_indexes_.empty()) {
        index = free_indexes_.back();
        free_indexes_.pop_back();
    } else {
        index = static_cast<std::uint32_t>(watchers_.size());
        watchers_.emplace_back();
    }
    Watcher& watcher = watchers_[index];
    watcher.id = next_id_++;
    watcher.namespace_id = spec.namespace_id;
    watcher.matches_nothing = spec.matches_nothing;
    watcher.overflowed = false;
    watcher.active = true;
    watcher.capacity = spec.capacity;
    watcher.overflow_slot = -1;
    watcher.fields = std::move(spec.fields);
    watcher.pending.clear();
    pack_selector(spec, &watcher);

    // The first Equals requirement on the index field picks the bucket: an
    // object with another value there fails that requirement, so skipping
    // the watcher for such objects loses nothing.
    watcher.bucket_kind = BucketKind::Unindexed;
    watcher.bucket_key = 0;
    for (const FieldTerm& term : watcher.fields) {
        if (term.field == index_field_ && term.op == FieldOp::Equals) {
            watcher.bucket_kind = BucketKind::IndexField;
            watcher.bucket_key = term.value_id;
            break;
        }
    }
    if (watcher.bucket_kind == BucketKind::Unindexed && watcher.namespace_id != kAnyNamespace) {
        watcher.bucket_kind = BucketKind::Namespace;
        watcher.bucket_key = watcher.namespace_id;
    }
    Bucket* bucket = bucket_of(watcher.bucket_kind, watcher.bucket_key);
    watcher.bucket_position = static_cast<std::uint32_t>(bucket->size());
    bucket->push_back(index);

    index_of_id_.emplace(watcher.id, index);
    return watcher.id;
}

bool Hub::remove(std::int64_t id, Drained* pending) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = index_of_id_.find(id);
    if (found == index_of_id_.end()) {
        return false;
    }
    const std::uint32_t index = found->second;
    index_of_id_.erase(found);
    take_pending(watchers_[index], pending);
    release(index);
    return true;
}

void Hub::release(std::uint32_t index) {
    Watcher& watcher = watchers_[index];
    Bucket* bucket = bucket_of(watcher.bucket_kind, watcher.bucket_key);
    // Swap-remove: the last entry of the bucket takes this watcher's place.
    const std::uint32_t moved = bucket->back();
    (*bucket)[watcher.bucket_position] = moved;
    watchers_[moved].bucket_position = watcher.bucket_position;
    bucket->pop_back();

    // Free the selector and the queue now, because the slot may stay unused.
    watcher = Watcher{};
    free_indexes_.push_back(index);
}

void Hub::pack_selector(const WatcherSpec& spec, Watcher* watcher) {
    const std::size_t requirements = spec.ops.size();
    const std::size_t values = spec.value_ids.size();
    watcher->requirement_count = static_cast<std::int32_t>(requirements);
    watcher->selector_value_count = static_cast<std::int32_t>(values);
    watcher->selector_storage.clear();
    if (requirements == 0) {
        return;
    }
    watcher->selector_storage.assign(selector_words(requirements, values), 0);
    std::int64_t* offsets = watcher->selector_storage.data();
    std::copy(spec.value_offsets.begin(), spec.value_offsets.end(), offsets);
    auto* key_ids = reinterpret_cast<std::int32_t*>(offsets + requirements + 1);
    std::copy(spec.key_ids.begin(), spec.key_ids.end(), key_ids);
    std::int32_t* value_ids = key_ids + requirements;
    std::copy(spec.value_ids.begin(), spec.value_ids.end(), value_ids);
    auto* ops = reinterpret_cast<std::int8_t*>(value_ids + values);
    std::copy(spec.ops.begin(), spec.ops.end(), ops);
}

Hub::Bucket* Hub::bucket_of(BucketKind kind, std::int32_t key) {
    if (kind == BucketKind::Unindexed) {
        return &unindexed_;
    }
    std::vector<Bucket>& buckets =
        kind == BucketKind::Namespace ? namespace_buckets_ : field_buckets_;
    const auto needed = static_cast<std::size_t>(key) + 1;
    if (buckets.size() < needed) {
        buckets.resize(needed);
    }
    return &buckets[static_cast<std::size_t>(key)];
}

const Hub::Bucket* Hub::find_bucket(const std::vector<Bucket>& buckets, std::int32_t key) {
    if (key < 0 || static_cast<std::size_t>(key) >= buckets.size()) {
        return nullptr;
    }
    return &buckets[static_cast<std::size_t>(key)];
}

bool Hub::matches(const Watcher& watcher, const ObjectView& object,
                  const std::int64_t* label_offsets) const {
    if (watcher.matches_nothing) {
        return false;
    }
    if (watcher.namespace_id != kAnyNamespace && watcher.namespace_id != object.namespace_id) {
        return false;
    }
    for (const FieldTerm& term : watcher.fields) {
        const bool equal = object.field_values[term.field] == term.value_id;
        if (equal != (term.op == FieldOp::Equals)) {
            return false;
        }
    }
    if (watcher.requirement_count == 0) {
        return true;
    }
    selector::LabelRows rows{};
    rows.offsets = label_offsets;
    rows.key_ids = object.key_ids;
    rows.value_ids = object.value_ids;
    rows.row_count = 1;
    rows.pair_count = object.label_count;
    const selector::CompiledSelector compiled = watcher.selector();
    std::uint8_t matched = 0;
    // The binding checked the offsets, so match_rows cannot report a bad row.
    selector::match_rows(rows, compiled, &matched);
    return matched != 0;
}

void Hub::deliver(Watcher& watcher, std::int64_t slot, EventType type, PublishResult* result) {
    if (static_cast<std::int64_t>(watcher.pending.size()) >= watcher.capacity) {
        watcher.overflowed = true;
        watcher.overflow_slot = slot;
        result->overflowed.push_back(watcher.id);
        return;
    }
    watcher.pending.push_back(Delivery{slot, static_cast<std::int8_t>(type)});
    result->delivered.push_back(watcher.id);
}

void Hub::visit(const Bucket& bucket, std::int64_t slot, EventType type,
                const ObjectView& object, const ObjectView& old, PublishResult* result) {
    const std::int64_t object_offsets[2] = {0, object.label_count};
    const std::int64_t old_offsets[2] = {0, old.label_count};
    for (const std::uint32_t index : bucket) {
        Watcher& watcher = watchers_[index];
        PYKUBE_DEBUG_CHECK(watcher.active, "bucket lists a removed watcher");
        if (watcher.overflowed) {
            continue;
        }
        const bool now = matches(watcher, object, object_offsets);
        if (type != EventType::Modified) {
            if (now) {
                deliver(watcher, slot, type, result);
            }
            continue;
        }
        // Kubernetes' watch transition rule: an update that moves an object
        // into a watcher's selection is an ADDED for it, out of it a DELETED.
        const bool before = matches(watcher, old, old_offsets);
        if (now && before) {
            deliver(watcher, slot, EventType::Modified, result);
        } else if (now) {
            deliver(watcher, slot, EventType::Added, result);
        } else if (before) {
            deliver(watcher, slot, EventType::Deleted, result);
        }
    }
}

void Hub::publish(std::int64_t slot, EventType type, const ObjectView& object,
                  const ObjectView& old, PublishResult* result) {
    std::lock_guard<std::mutex> lock(mutex_);
    const bool has_old = type == EventType::Modified;

    // Each watcher is in one bucket, so visiting distinct buckets visits
    // each watcher at most once. Skip the old object's bucket when it is the
    // new object's.
    const Bucket* visited[5] = {};
    std::size_t visited_count = 0;
    visited[visited_count++] = find_bucket(namespace_buckets_, object.namespace_id);
    if (has_old && old.namespace_id != object.namespace_id) {
        visited[visited_count++] = find_bucket(namespace_buckets_, old.namespace_id);
    }
    if (index_field_ != kNoIndexField) {
        const std::int32_t value = object.field_values[index_field_];
        visited[visited_count++] = find_bucket(field_buckets_, value);
        const std::int32_t old_value = has_old ? old.field_values[index_field_] : value;
        if (old_value != value) {
            visited[visited_count++] = find_bucket(field_buckets_, old_value);
        }
    }
    visited[visited_count++] = &unindexed_;

    // Reserve for every visited watcher, so the id lists never reallocate
    // inside the loop.
    std::size_t watcher_count = 0;
    for (std::size_t b = 0; b < visited_count; ++b) {
        watcher_count += visited[b] != nullptr ? visited[b]->size() : 0;
    }
    result->delivered.reserve(watcher_count);
    for (std::size_t b = 0; b < visited_count; ++b) {
        if (visited[b] != nullptr) {
            visit(*visited[b], slot, type, object, old, result);
        }
    }
}

void Hub::take_pending(Watcher& watcher, Drained* out) {
    if (out != nullptr) {
        out->slots.clear();
        out->types.clear();
        for (const Delivery& delivery : watcher.pending) {
            out->slots.push_back(delivery.slot);
            out->types.push_back(delivery.type);
        }
        out->overflow_slot = watcher.overflowed ? watcher.overflow_slot : -1;
    }
    if (watcher.pending.capacity() > kKeptQueueEntries) {
        std::vector<Delivery>().swap(watcher.pending);
    } else {
        watcher.pending.clear();
    }
}

bool Hub::drain(std::int64_t id, Drained* out) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = index_of_id_.find(id);
    if (found == index_of_id_.end()) {
        return false;
    }
    take_pending(watchers_[found->second], out);
    return true;
}

std::int64_t Hub::pending(std::int64_t id) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = index_of_id_.find(id);
    if (found == index_of_id_.end()) {
        return -1;
    }
    return static_cast<std::int64_t>(watchers_[found->second].pending.size());
}

std::size_t Hub::size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return index_of_id_.size();
}

std::size_t Hub::footprint_bytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::size_t bytes = vector_bytes(watchers_) + vector_bytes(free_indexes_)
                        + vector_bytes(unindexed_) + vector_bytes(namespace_buckets_)
                        + vector_bytes(field_buckets_);
    // Each unordered_map node contains the pair and a next pointer, and the
    // table has one pointer per bucket.
    bytes += index_of_id_.size() * (sizeof(std::pair<std::int64_t, std::uint32_t>) + sizeof(void*))
             + index_of_id_.bucket_count() * sizeof(void*);
    for (const Bucket& bucket : namespace_buckets_) {
        bytes += vector_bytes(bucket);
    }
    for (const Bucket& bucket : field_buckets_) {
        bytes += vector_bytes(bucket);
    }
    for (const Watcher& watcher : watchers_) {
        bytes += vector_bytes(watcher.selector_storage) + vector_bytes(watcher.fields)
                 + vector_bytes(watcher.pending);
    }
    return bytes;
}

}  // namespace pykube::watchhub
