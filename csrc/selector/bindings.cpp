// pybind11 shims for pykube_core._selector_native.
//
// The shims only check dtypes, shapes and offsets, then call the kernel in
// match.cpp. Interning, selector compilation and every shortcut live in
// pykube_core/selector_index.py.
//
// GIL order: take the buffer pointers and allocate the result while holding
// the GIL, release it for the kernel loop, raise after it is taken back.
// The input arrays stay referenced by the caller's frame for the whole call,
// so the pointers remain valid while the GIL is released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "common/debug.h"
#include "selector/match.h"

namespace py = pybind11;
namespace sel = pykube::selector;

namespace {

// Returns a pointer to the data of a 1-D C-contiguous array of dtype T, or
// raises ValueError naming the argument.
template <typename T>
const T* checked_vector(const py::array& array, const char* name) {
    if (!array.dtype().is(py::dtype::of<T>())) {
        throw py::value_error(std::string(name) + ": expected dtype "
                              + std::string(py::str(py::dtype::of<T>())) + ", got "
                              + std::string(py::str(array.dtype()))
                              + "; convert it with numpy.ascontiguousarray(..., dtype=...)");
    }
    if (array.ndim() != 1) {
        throw py::value_error(std::string(name) + ": expected a 1-D array, got "
                              + std::to_string(array.ndim()) + " dimensions");
    }
    if (!(array.flags() & py::array::c_style)) {
        throw py::value_error(std::string(name)
                              + ": array is not C-contiguous; pass numpy.ascontiguousarray(...)");
    }
    return static_cast<const T*>(array.data());
}

void check_lengths(py::ssize_t actual, py::ssize_t expected, const char* name,
                   const char* expected_from) {
    if (actual != expected) {
        throw py::value_error(std::string(name) + ": expected " + std::to_string(expected)
                              + " entries (" + expected_from + "), got "
                              + std::to_string(actual));
    }
}

// Validates the per-requirement arrays. A selector has few requirements, so
// these checks run in every build.
void check_selector(const sel::CompiledSelector& selector, py::ssize_t value_count) {
    for (std::int64_t r = 0; r < selector.requirement_count; ++r) {
        const std::int8_t op = selector.ops[r];
        if (op < 0 || op > sel::kMaxOpCode) {
            throw py::value_error("ops[" + std::to_string(r) + "]: invalid operator code "
                                  + std::to_string(op) + "; expected 0 to "
                                  + std::to_string(sel::kMaxOpCode));
        }
    }
    const std::int64_t* offsets = selector.value_offsets;
    if (offsets[0] != 0 || offsets[selector.requirement_count] != value_count) {
        throw py::value_error(
            "value_offsets: expected to start at 0 and end at len(requirement_value_ids) = "
            + std::to_string(value_count));
    }
    for (std::int64_t r = 0; r < selector.requirement_count; ++r) {
        if (offsets[r] > offsets[r + 1]) {
            throw py::value_error("value_offsets: decreases at index " + std::to_string(r));
        }
        for (std::int64_t v = offsets[r] + 1; v < offsets[r + 1]; ++v) {
            PYKUBE_DEBUG_CHECK(selector.value_ids[v - 1] < selector.value_ids[v],
                               "value ids of a requirement are not strictly increasing");
        }
    }
}

py::array match_rows(const py::array& offsets, const py::array& key_ids,
                     const py::array& value_ids, const py::array& ops,
                     const py::array& requirement_key_ids, const py::array& value_offsets,
                     const py::array& requirement_value_ids) {
    sel::LabelRows rows{};
    rows.offsets = checked_vector<std::int64_t>(offsets, "offsets");
    rows.key_ids = checked_vector<std::int32_t>(key_ids, "key_ids");
    rows.value_ids = checked_vector<std::int32_t>(value_ids, "value_ids");
    if (offsets.size() < 1) {
        throw py::value_error("offsets: expected at least 1 entry (row count + 1), got 0");
    }
    check_lengths(value_ids.size(), key_ids.size(), "value_ids", "one per entry of key_ids");
    rows.row_count = offsets.size() - 1;
    rows.pair_count = key_ids.size();
    if (rows.offsets[0] != 0 || rows.offsets[rows.row_count] != rows.pair_count) {
        throw py::value_error("offsets: expected to start at 0 and end at len(key_ids) = "
                              + std::to_string(rows.pair_count));
    }

    sel::CompiledSelector selector{};
    selector.ops = checked_vector<std::int8_t>(ops, "ops");
    selector.key_ids = checked_vector<std::int32_t>(requirement_key_ids, "requirement_key_ids");
    selector.value_offsets = checked_vector<std::int64_t>(value_offsets, "value_offsets");
    selector.value_ids = checked_vector<std::int32_t>(requirement_value_ids, "requirement_value_ids");
    selector.requirement_count = ops.size();
    check_lengths(requirement_key_ids.size(), ops.size(), "requirement_key_ids",
                  "one per entry of ops");
    check_lengths(value_offsets.size(), ops.size() + 1, "value_offsets", "len(ops) + 1");
    check_selector(selector, requirement_value_ids.size());

    py::array_t<bool> result(rows.row_count);
    auto* out = reinterpret_cast<std::uint8_t*>(result.mutable_data());
    std::int64_t bad_row = -1;
    {
        py::gil_scoped_release release;
        bad_row = sel::match_rows(rows, selector, out);
    }
    if (bad_row >= 0) {
        throw py::value_error("offsets: row " + std::to_string(bad_row) + " spans ["
                              + std::to_string(rows.offsets[bad_row]) + ", "
                              + std::to_string(rows.offsets[bad_row + 1])
                              + "), which is backwards or past len(key_ids) = "
                              + std::to_string(rows.pair_count)
                              + "; offsets must be non-decreasing");
    }
    return result;
}

}  // namespace

PYBIND11_MODULE(_selector_native, module) {
    module.doc() =
        "Native label-selector matching kernel; use pykube_core.selector_index instead.";
    module.def("match_rows", &match_rows, py::arg("offsets"), py::arg("key_ids"),
               py::arg("value_ids"), py::arg("ops"), py::arg("requirement_key_ids"),
               py::arg("value_offsets"), py::arg("requirement_value_ids"),
               "Return a bool array with True for each row that satisfies every requirement.");
}
