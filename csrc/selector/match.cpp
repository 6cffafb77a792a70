// Label-selector matching kernel. match.h describes the array layout.
#include "selector/match.h"

#include <algorithm>

#include "common/debug.h"

namespace pykube::selector {
namespace {

// Returns the value id of `key` in the pairs [begin, end), or -1 when absent.
// LabelTable numbers interned ids from 0, so -1 cannot collide with one.
std::int32_t find_value(const LabelRows& rows, std::int64_t begin, std::int64_t end,
                        std::int32_t key) {
    const std::int32_t* first = rows.key_ids + begin;
    const std::int32_t* last = rows.key_ids + end;
    const std::int32_t* found = std::lower_bound(first, last, key);
    if (found == last || *found != key) {
        return -1;
    }
    return rows.value_ids[found - rows.key_ids];
}

bool value_in_set(const CompiledSelector& selector, std::int64_t requirement,
                  std::int32_t value) {
    const std::int32_t* first = selector.value_ids + selector.value_offsets[requirement];
    const std::int32_t* last = selector.value_ids + selector.value_offsets[requirement + 1];
    return std::binary_search(first, last, value);
}

bool row_matches(const LabelRows& rows, std::int64_t begin, std::int64_t end,
                 const CompiledSelector& selector) {
    for (std::int64_t r = 0; r < selector.requirement_count; ++r) {
        const std::int32_t value = find_value(rows, begin, end, selector.key_ids[r]);
        const bool present = value >= 0;
        bool satisfied = false;
        switch (static_cast<Op>(selector.ops[r])) {
            case Op::In:
                satisfied = present && value_in_set(selector, r, value);
                break;
            case Op::NotIn:
                satisfied = !present || !value_in_set(selector, r, value);
                break;
            case Op::Exists:
                satisfied = present;
                break;
            case Op::DoesNotExist:
                satisfied = !present;
                break;
        }
        if (!satisfied) {
            return false;
        }
    }
    return true;
}

}  // namespace

std::int64_t match_rows(const LabelRows& rows, const CompiledSelector& selector,
                        std::uint8_t* out) {
    for (std::int64_t i = 0; i < rows.row_count; ++i) {
        const std::int64_t begin = rows.offsets[i];
        const std::int64_t end = rows.offsets[i + 1];
        // Checked in every build because a bad offset would read out of
        // bounds. One compare per row costs little next to the search.
        if (begin < 0 || begin > end || end > rows.pair_count) {
            return i;
        }
        for (std::int64_t p = begin + 1; p < end; ++p) {
            PYKUBE_DEBUG_CHECK(rows.key_ids[p - 1] < rows.key_ids[p],
                               "key ids of a row are not strictly increasing");
        }
        out[i] = row_matches(rows, begin, end, selector) ? 1 : 0;
    }
    return -1;
}

}  // namespace pykube::selector
