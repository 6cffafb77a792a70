// Label-selector matching over interned label arrays.
//
// The Python side (pykube_core/selector_index.py) interns label keys and
// values to int32 ids and stores each object's labels as a CSR row: the pairs
// of row i are key_ids[offsets[i]:offsets[i+1]] and value_ids[same range],
// sorted by key id. A selector arrives compiled to four arrays, one entry per
// requirement, with the value set of requirement r stored sorted in
// selector_value_ids[value_offsets[r]:value_offsets[r+1]].
//
// The kernel implements four operators. Python maps "=" and "==" to In with
// one value, and "!=" to NotIn with one value, before calling it.
#pragma once

#include <cstdint>

namespace pykube::selector {

enum class Op : std::int8_t {
    In = 0,            // key present and its value in the set
    NotIn = 1,         // key absent, or its value not in the set
    Exists = 2,        // key present
    DoesNotExist = 3,  // key absent
};

constexpr std::int8_t kMaxOpCode = static_cast<std::int8_t>(Op::DoesNotExist);

// Borrowed views of the label table. The caller owns the memory and keeps it
// alive and unchanged for the duration of match_rows.
struct LabelRows {
    const std::int64_t* offsets;  // row_count + 1 entries
    const std::int32_t* key_ids;  // pair_count entries
    const std::int32_t* value_ids;
    std::int64_t row_count;
    std::int64_t pair_count;
};

// Borrowed views of a compiled selector, owned by the caller like LabelRows.
struct CompiledSelector {
    const std::int8_t* ops;  // requirement_count entries, each an Op
    const std::int32_t* key_ids;
    const std::int64_t* value_offsets;  // requirement_count + 1 entries
    const std::int32_t* value_ids;
    std::int64_t requirement_count;
};

// Sets out[i] to 1 when row i satisfies every requirement, else 0. With no
// requirements every row matches.
//
// Returns -1 on success. When offsets[i] > offsets[i+1], or a row ends past
// pair_count, it stops and returns that row i, and out is partly written.
// Touches no Python object, so the caller may release the GIL around it.
std::int64_t match_rows(const LabelRows& rows, const CompiledSelector& selector,
                        std::uint8_t* out);

}  // namespace pykube::selector
