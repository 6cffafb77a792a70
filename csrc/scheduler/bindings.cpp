// pybind11 shims for pykube_core.scheduler._native.
//
// Each function takes the frozen dataclasses of pykube_core/scheduler/
// arrays.py (NodeArrays, PodArrays, ScoringArrays) and reads their numpy
// fields by attribute name, so the native kernel and its pure-Python twin
// take the very same objects. The shims check dtypes, shapes and lengths in
// every build. Offsets that decrease and ids past the end of the string
// table cannot come from NodeTable, so those walks are checked only in
// debug builds (PYKUBE_NATIVE_DEBUG=1).
//
// GIL order: read the attributes, check them and allocate the results while
// holding the GIL, release it for the kernel loop, build the Python results
// after. The arrays stay referenced by `keep` for the whole call, so their
// pointers remain valid while the GIL is released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/debug.h"
#include "scheduler/kernels.h"

namespace py = pybind11;
namespace sch = pykube::scheduler;

namespace {

using Int64Array = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;
using Int8Array = py::array_t<std::int8_t, py::array::c_style | py::array::forcecast>;

class Reader {
public:
    Reader(const py::object& source, const char* kind) : source_(source), kind_(kind) {}

    // Returns the data of attribute `name`, a C-contiguous array of dtype T
    // with `ndim` dimensions, or raises ValueError naming it.
    template <typename T>
    const T* array(const char* name, int ndim = 1) {
        py::array value = source_.attr(name).cast<py::array>();
        // Built only on failure: most calls read every field and fail none.
        const auto label = [&] { return std::string(kind_) + "." + name; };
        if (!value.dtype().is(py::dtype::of<T>())) {
            throw py::value_error(label() + ": expected dtype " + std::string(py::str(py::dtype::of<T>()))
                                  + ", got " + std::string(py::str(value.dtype()))
                                  + "; build it with numpy.ascontiguousarray(..., dtype=...)");
        }
        if (value.ndim() != ndim) {
            throw py::value_error(label() + ": expected " + std::to_string(ndim)
                                  + "-D array, got " + std::to_string(value.ndim())
                                  + " dimensions");
        }
        if (!(value.flags() & py::array::c_style)) {
            throw py::value_error(label() + ": array is not C-contiguous; pass numpy.ascontiguousarray(...)");
        }
        sizes_[name] = value.size();
        if (ndim == 2) {
            rows_[name] = value.shape(0);
            columns_[name] = value.shape(1);
        }
        keep_.push_back(value);
        return static_cast<const T*>(value.data());
    }

    template <typename T>
    T scalar(const char* name) {
        return source_.attr(name).cast<T>();
    }

    py::ssize_t size(const char* name) const { return sizes_.at(name); }
    py::ssize_t rows(const char* name) const { return rows_.at(name); }
    py::ssize_t columns(const char* name) const { return columns_.at(name); }

    void expect_size(const char* name, py::ssize_t expected, const std::string& because) const {
        if (size(name) != expected) {
            throw py::value_error(std::string(kind_) + "." + name + ": expected "
                                  + std::to_string(expected) + " entries (" + because + "), got "
                                  + std::to_string(size(name)));
        }
    }

    // Checks a CSR offsets array of rows + 1 entries that indexes `target`.
    void expect_offsets(const char* offsets, const std::int64_t* data, py::ssize_t rows,
                        const char* target) const {
        expect_size(offsets, rows + 1, "one per row plus one");
        if (data[0] != 0 || data[rows] != size(target)) {
            throw py::value_error(std::string(kind_) + "." + offsets
                                  + ": expected to start at 0 and end at len(" + target
                                  + ") = " + std::to_string(size(target)));
        }
        for (py::ssize_t i = 0; i < rows; ++i) {
            PYKUBE_DEBUG_CHECK(data[i] <= data[i + 1], "CSR offsets decrease");
        }
    }

private:
    py::object source_;
    const char* kind_;
    std::vector<py::array> keep_;
    std::map<std::string, py::ssize_t> sizes_;
    std::map<std::string, py::ssize_t> rows_;
    std::map<std::string, py::ssize_t> columns_;
};

void check_string_ids(const std::int32_t* ids, py::ssize_t count, std::int64_t string_count) {
    for (py::ssize_t i = 0; i < count; ++i) {
        PYKUBE_DEBUG_CHECK(ids[i] >= 0 && ids[i] < string_count, "string id out of range");
    }
    (void)ids;
    (void)count;
    (void)string_count;
}

void check_row_indexes(const std::int32_t* rows, py::ssize_t count, std::int64_t node_count,
                       const char* label) {
    for (py::ssize_t i = 0; i < count; ++i) {
        if (rows[i] < -1 || rows[i] >= node_count) {
            throw py::value_error(std::string(label) + "[" + std::to_string(i) + "]: row "
                                  + std::to_string(rows[i]) + " is out of range for "
                                  + std::to_string(node_count) + " nodes");
        }
    }
}

// Reads a TermArrays. owner_count is the number of pod slots the owners
// index, or -1 when every owner must be -1 (the incoming pod's terms).
sch::Terms read_terms(Reader& r, const char* kind, std::int64_t owner_count) {
    sch::Terms t{};
    t.kinds = r.array<std::int8_t>("kinds");
    t.count = r.size("kinds");
    if (t.count == 0) {
        // Most pods have no terms; the kernels read no other field then,
        // and skipping them saves a dozen attribute reads per call.
        return t;
    }
    t.weights = r.array<std::int64_t>("weights");
    r.expect_size("weights", t.count, "one per term");
    t.min_domains = r.array<std::int64_t>("min_domains");
    r.expect_size("min_domains", t.count, "one per term");
    t.topology_keys = r.array<std::int32_t>("topology_keys");
    r.expect_size("topology_keys", t.count, "one per term");
    t.flags = r.array<std::uint8_t>("flags");
    r.expect_size("flags", t.count, "one per term");
    t.owners = r.array<std::int64_t>("owners");
    r.expect_size("owners", t.count, "one per term");
    for (std::int64_t i = 0; i < t.count; ++i) {
        const bool valid = owner_count < 0 ? t.owners[i] == -1 : t.owners[i] >= 0 && t.owners[i] < owner_count;
        if (!valid) {
            throw py::value_error(std::string(kind) + ".owners[" + std::to_string(i) + "]: "
                                  + std::to_string(t.owners[i]) + " is not a pod slot of "
                                  + std::to_string(owner_count)
                                  + "; the incoming pod's own terms must have owner -1");
        }
    }
    t.namespace_offsets = r.array<std::int64_t>("namespace_offsets");
    t.namespaces = r.array<std::int32_t>("namespaces");
    r.expect_offsets("namespace_offsets", t.namespace_offsets, t.count, "namespaces");
    t.requirement_ops = r.array<std::int8_t>("requirement_ops");
    const py::ssize_t requirement_count = r.size("requirement_ops");
    t.selector_offsets = r.array<std::int64_t>("selector_offsets");
    r.expect_offsets("selector_offsets", t.selector_offsets, t.count, "requirement_ops");
    t.requirement_keys = r.array<std::int32_t>("requirement_keys");
    r.expect_size("requirement_keys", requirement_count, "one per requirement");
    t.requirement_value_offsets = r.array<std::int64_t>("requirement_value_offsets");
    t.requirement_values = r.array<std::int32_t>("requirement_values");
    r.expect_offsets("requirement_value_offsets", t.requirement_value_offsets, requirement_count,
                     "requirement_values");
    return t;
}

sch::Nodes read_nodes(Reader& r, Reader& pod_terms) {
    sch::Nodes n{};
    n.allocatable = r.array<std::int64_t>("allocatable", 2);
    n.node_count = r.rows("allocatable");
    n.resource_count = r.columns("allocatable");
    n.requested = r.array<std::int64_t>("requested", 2);
    if (r.rows("requested") != n.node_count || r.columns("requested") != n.resource_count) {
        throw py::value_error("NodeArrays.requested: expected the shape of allocatable");
    }
    n.nonzero_requested = r.array<std::int64_t>("nonzero_requested", 2);
    r.expect_size("nonzero_requested", n.node_count * 2, "cpu and memory per node");
    n.unschedulable = r.array<std::uint8_t>("unschedulable");
    r.expect_size("unschedulable", n.node_count, "one per node");
    n.name_ids = r.array<std::int32_t>("name_ids");
    r.expect_size("name_ids", n.node_count, "one per node");

    n.label_offsets = r.array<std::int64_t>("label_offsets");
    n.label_keys = r.array<std::int32_t>("label_keys");
    n.label_values = r.array<std::int32_t>("label_values");
    r.expect_offsets("label_offsets", n.label_offsets, n.node_count, "label_keys");
    r.expect_size("label_values", r.size("label_keys"), "one per label key");
    n.string_numbers = r.array<std::int64_t>("string_numbers");
    n.string_count = r.size("string_numbers");
    n.string_is_number = r.array<std::uint8_t>("string_is_number");
    r.expect_size("string_is_number", n.string_count, "one per interned string");
    check_string_ids(n.label_values, r.size("label_values"), n.string_count);

    n.taint_offsets = r.array<std::int64_t>("taint_offsets");
    n.taint_keys = r.array<std::int32_t>("taint_keys");
    n.taint_values = r.array<std::int32_t>("taint_values");
    n.taint_effects = r.array<std::int8_t>("taint_effects");
    r.expect_offsets("taint_offsets", n.taint_offsets, n.node_count, "taint_keys");
    r.expect_size("taint_values", r.size("taint_keys"), "one per taint");
    r.expect_size("taint_effects", r.size("taint_keys"), "one per taint");

    n.port_offsets = r.array<std::int64_t>("port_offsets");
    n.port_ips = r.array<std::int32_t>("port_ips");
    n.port_numbers = r.array<std::int32_t>("port_numbers");
    n.port_protocols = r.array<std::int8_t>("port_protocols");
    r.expect_offsets("port_offsets", n.port_offsets, n.node_count, "port_ips");
    r.expect_size("port_numbers", r.size("port_ips"), "one per used port");
    r.expect_size("port_protocols", r.size("port_ips"), "one per used port");

    n.image_offsets = r.array<std::int64_t>("image_offsets");
    n.image_ids = r.array<std::int32_t>("image_ids");
    n.image_sizes = r.array<std::int64_t>("image_sizes");
    n.image_node_counts = r.array<std::int32_t>("image_node_counts");
    r.expect_offsets("image_offsets", n.image_offsets, n.node_count, "image_ids");
    r.expect_size("image_sizes", r.size("image_ids"), "one per image");
    r.expect_size("image_node_counts", n.string_count, "one per interned string");
    check_string_ids(n.image_ids, r.size("image_ids"), n.string_count);

    n.pod_rows = r.array<std::int32_t>("pod_rows");
    n.pod_count = r.size("pod_rows");
    check_row_indexes(n.pod_rows, n.pod_count, n.node_count, "NodeArrays.pod_rows");
    n.pod_namespaces = r.array<std::int32_t>("pod_namespaces");
    r.expect_size("pod_namespaces", n.pod_count, "one per pod slot");
    n.pod_terminating = r.array<std::uint8_t>("pod_terminating");
    r.expect_size("pod_terminating", n.pod_count, "one per pod slot");
    n.pod_label_offsets = r.array<std::int64_t>("pod_label_offsets");
    n.pod_label_keys = r.array<std::int32_t>("pod_label_keys");
    n.pod_label_values = r.array<std::int32_t>("pod_label_values");
    r.expect_offsets("pod_label_offsets", n.pod_label_offsets, n.pod_count, "pod_label_keys");
    r.expect_size("pod_label_values", r.size("pod_label_keys"), "one per pod label key");
    // Label values index the per-string domain vectors of topology.h.
    for (py::ssize_t i = 0; i < r.size("pod_label_values"); ++i) {
        if (n.pod_label_values[i] < 0 || n.pod_label_values[i] >= n.string_count) {
            throw py::value_error("NodeArrays.pod_label_values[" + std::to_string(i) + "]: string id "
                                  + std::to_string(n.pod_label_values[i]) + " is out of range for "
                                  + std::to_string(n.string_count)
                                  + " strings; take the arrays from NodeTable.arrays()");
        }
    }
    n.pod_terms = read_terms(pod_terms, "NodeArrays.pod_terms", n.pod_count);
    return n;
}

sch::Pod read_pod(Reader& r, const sch::Nodes& nodes) {
    sch::Pod p{};
    p.requests = r.array<std::int64_t>("requests");
    r.expect_size("requests", nodes.resource_count, "one per resource column of the table");
    p.nonzero_requests = r.array<std::int64_t>("nonzero_requests");
    r.expect_size("nonzero_requests", nodes.resource_count, "one per resource column");
    p.node_name_id = r.scalar<std::int32_t>("node_name_id");
    p.tolerates_unschedulable = r.scalar<bool>("tolerates_unschedulable");

    p.toleration_keys = r.array<std::int32_t>("toleration_keys");
    p.toleration_count = r.size("toleration_keys");
    p.toleration_ops = r.array<std::int8_t>("toleration_ops");
    p.toleration_values = r.array<std::int32_t>("toleration_values");
    p.toleration_effects = r.array<std::int8_t>("toleration_effects");
    r.expect_size("toleration_ops", p.toleration_count, "one per toleration");
    r.expect_size("toleration_values", p.toleration_count, "one per toleration");
    r.expect_size("toleration_effects", p.toleration_count, "one per toleration");

    p.term_kinds = r.array<std::int8_t>("term_kinds");
    p.term_count = r.size("term_kinds");
    p.term_weights = r.array<std::int64_t>("term_weights");
    r.expect_size("term_weights", p.term_count, "one per term");
    p.requirement_ops = r.array<std::int8_t>("requirement_ops");
    const py::ssize_t requirement_count = r.size("requirement_ops");
    p.term_offsets = r.array<std::int64_t>("term_offsets");
    r.expect_offsets("term_offsets", p.term_offsets, p.term_count, "requirement_ops");
    p.requirement_keys = r.array<std::int32_t>("requirement_keys");
    r.expect_size("requirement_keys", requirement_count, "one per requirement");
    p.requirement_numbers = r.array<std::int64_t>("requirement_numbers");
    r.expect_size("requirement_numbers", requirement_count, "one per requirement");
    p.requirement_value_offsets = r.array<std::int64_t>("requirement_value_offsets");
    p.requirement_values = r.array<std::int32_t>("requirement_values");
    r.expect_offsets("requirement_value_offsets", p.requirement_value_offsets, requirement_count,
                     "requirement_values");

    p.port_ips = r.array<std::int32_t>("port_ips");
    p.port_count = r.size("port_ips");
    p.port_numbers = r.array<std::int32_t>("port_numbers");
    p.port_protocols = r.array<std::int8_t>("port_protocols");
    r.expect_size("port_numbers", p.port_count, "one per host port");
    r.expect_size("port_protocols", p.port_count, "one per host port");

    p.image_ids = r.array<std::int32_t>("image_ids");
    p.image_count = r.size("image_ids");
    check_string_ids(p.image_ids, p.image_count, nodes.string_count);
    p.container_count = r.scalar<std::int64_t>("container_count");

    p.namespace_id = r.scalar<std::int32_t>("namespace_id");
    p.label_keys = r.array<std::int32_t>("label_keys");
    p.label_count = r.size("label_keys");
    p.label_values = r.array<std::int32_t>("label_values");
    r.expect_size("label_values", p.label_count, "one per pod label key");
    p.system_default_spread = r.scalar<bool>("system_default_spread");
    p.volume_conflicts = r.array<std::int8_t>("volume_conflicts");
    p.volume_conflict_count = r.size("volume_conflicts");
    if (p.volume_conflict_count != 0 && p.volume_conflict_count != nodes.node_count) {
        throw py::value_error("PodArrays.volume_conflicts: expected 0 entries or one per node ("
                              + std::to_string(nodes.node_count) + "), got "
                              + std::to_string(p.volume_conflict_count));
    }
    return p;
}

sch::Scoring read_scoring(Reader& r, const sch::Nodes& nodes) {
    sch::Scoring s{};
    s.strategy = r.scalar<std::int8_t>("strategy");
    if (s.strategy < sch::kLeastAllocated || s.strategy > sch::kRequestedToCapacityRatio) {
        throw py::value_error("ScoringArrays.strategy: invalid code " + std::to_string(s.strategy)
                              + "; expected 0, 1 or 2");
    }
    s.fit_columns = r.array<std::int64_t>("fit_columns");
    s.fit_resource_count = r.size("fit_columns");
    s.fit_weights = r.array<std::int64_t>("fit_weights");
    r.expect_size("fit_weights", s.fit_resource_count, "one per fit resource");
    s.shape_utilization = r.array<std::int64_t>("shape_utilization");
    s.shape_count = r.size("shape_utilization");
    s.shape_scores = r.array<std::int64_t>("shape_scores");
    r.expect_size("shape_scores", s.shape_count, "one per shape point");
    if (s.strategy == sch::kRequestedToCapacityRatio && s.shape_count == 0) {
        throw py::value_error("ScoringArrays.shape_utilization: RequestedToCapacityRatio needs at least one point");
    }
    s.balanced_columns = r.array<std::int64_t>("balanced_columns");
    s.balanced_resource_count = r.size("balanced_columns");
    auto check_columns = [&](const std::int64_t* columns, std::int64_t count, const char* name) {
        for (std::int64_t i = 0; i < count; ++i) {
            if (columns[i] < 0 || columns[i] >= nodes.resource_count) {
                throw py::value_error(std::string("ScoringArrays.") + name + "[" + std::to_string(i)
                                      + "]: column " + std::to_string(columns[i])
                                      + " is out of range for a table of "
                                      + std::to_string(nodes.resource_count) + " resources");
            }
        }
    };
    check_columns(s.fit_columns, s.fit_resource_count, "fit_columns");
    check_columns(s.balanced_columns, s.balanced_resource_count, "balanced_columns");
    s.hard_pod_affinity_weight = r.scalar<std::int64_t>("hard_pod_affinity_weight");
    return s;
}

py::tuple filter_nodes(const py::object& node_arrays, const py::object& pod_arrays) {
    Reader node_reader(node_arrays, "NodeArrays");
    Reader node_terms_reader(node_arrays.attr("pod_terms"), "NodeArrays.pod_terms");
    const sch::Nodes nodes = read_nodes(node_reader, node_terms_reader);
    Reader pod_reader(pod_arrays, "PodArrays");
    Reader pod_terms_reader(pod_arrays.attr("terms"), "PodArrays.terms");
    sch::Pod pod = read_pod(pod_reader, nodes);
    pod.terms = read_terms(pod_terms_reader, "PodArrays.terms", -1);

    const py::ssize_t n = nodes.node_count;
    py::array_t<std::int8_t> status(n);
    py::array_t<std::int8_t> plugin(n);
    py::array_t<std::int64_t> detail(n);
    py::array_t<std::uint8_t> insufficient({n, static_cast<py::ssize_t>(nodes.resource_count)});
    const sch::FilterOutput out{status.mutable_data(), plugin.mutable_data(),
                                detail.mutable_data(), insufficient.mutable_data()};
    {
        py::gil_scoped_release release;
        sch::filter_nodes(nodes, pod, out);
    }
    return py::make_tuple(status, plugin, detail, insufficient);
}

py::array score_nodes(const py::object& node_arrays, const py::object& pod_arrays,
                      const py::object& scoring_arrays, const py::array& candidates) {
    Reader node_reader(node_arrays, "NodeArrays");
    Reader node_terms_reader(node_arrays.attr("pod_terms"), "NodeArrays.pod_terms");
    const sch::Nodes nodes = read_nodes(node_reader, node_terms_reader);
    Reader pod_reader(pod_arrays, "PodArrays");
    Reader pod_terms_reader(pod_arrays.attr("terms"), "PodArrays.terms");
    sch::Pod pod = read_pod(pod_reader, nodes);
    pod.terms = read_terms(pod_terms_reader, "PodArrays.terms", -1);
    Reader scoring_reader(scoring_arrays, "ScoringArrays");
    const sch::Scoring scoring = read_scoring(scoring_reader, nodes);

    const Int64Array rows = Int64Array::ensure(candidates);
    if (!rows) {
        throw py::value_error("candidates: expected an integer array of node rows");
    }
    const std::int64_t* row_data = rows.data();
    const py::ssize_t count = rows.size();
    for (py::ssize_t i = 0; i < count; ++i) {
        if (row_data[i] < 0 || row_data[i] >= nodes.node_count) {
            throw py::value_error("candidates[" + std::to_string(i) + "]: row "
                                  + std::to_string(row_data[i]) + " is out of range for "
                                  + std::to_string(nodes.node_count) + " nodes");
        }
    }
    py::array_t<std::int64_t> raw({count, static_cast<py::ssize_t>(sch::kScorePluginCount)});
    std::int64_t* raw_data = raw.mutable_data();
    {
        py::gil_scoped_release release;
        sch::score_nodes(nodes, pod, scoring, row_data, count, raw_data);
    }
    return raw;
}

py::tuple select_node(const py::array& raw_scores, const py::array& weights,
                      const py::array& modes, std::uint64_t rng_state) {
    const Int64Array scores = Int64Array::ensure(raw_scores);
    if (!scores) {
        throw py::value_error("raw_scores: expected an int64 array of shape (nodes, plugins)");
    }
    if (scores.ndim() != 2 || scores.shape(1) != sch::kScorePluginCount) {
        throw py::value_error("raw_scores: expected shape (nodes, "
                              + std::to_string(sch::kScorePluginCount) + ")");
    }
    // A copy, because normalisation works in place and the caller keeps the raw scores.
    py::array_t<std::int64_t> normalized({scores.shape(0), scores.shape(1)});
    std::copy(scores.data(), scores.data() + scores.size(), normalized.mutable_data());
    const Int64Array weight_array = Int64Array::ensure(weights);
    const Int8Array mode_array = Int8Array::ensure(modes);
    if (!weight_array || !mode_array) {
        throw py::value_error("weights and modes: expected integer arrays");
    }
    if (weight_array.size() != sch::kScorePluginCount || mode_array.size() != sch::kScorePluginCount) {
        throw py::value_error("weights and modes: expected "
                              + std::to_string(sch::kScorePluginCount) + " entries each");
    }
    const py::ssize_t rows = scores.shape(0);
    py::array_t<std::int64_t> totals(rows);
    std::int64_t* normalized_data = normalized.mutable_data();
    std::int64_t* totals_data = totals.mutable_data();
    const std::int64_t* weight_data = weight_array.data();
    const std::int8_t* mode_data = mode_array.data();
    std::int64_t selected = -1;
    {
        py::gil_scoped_release release;
        selected = sch::select_node(normalized_data, rows, weight_data, mode_data, totals_data,
                                    &rng_state);
    }
    return py::make_tuple(normalized, totals, selected, rng_state);
}

py::tuple schedule_batch(const py::object& node_arrays, const py::object& pod_arrays,
                         const py::object& scoring_arrays, const py::array& weights,
                         const py::array& modes, std::uint64_t rng_state, const py::object& batch_arrays) {
    Reader node_reader(node_arrays, "NodeArrays");
    Reader node_terms_reader(node_arrays.attr("pod_terms"), "NodeArrays.pod_terms");
    const sch::Nodes nodes = read_nodes(node_reader, node_terms_reader);
    Reader pod_reader(pod_arrays, "PodArrays");
    Reader pod_terms_reader(pod_arrays.attr("terms"), "PodArrays.terms");
    sch::Pod pod = read_pod(pod_reader, nodes);
    pod.terms = read_terms(pod_terms_reader, "PodArrays.terms", -1);
    Reader scoring_reader(scoring_arrays, "ScoringArrays");
    const sch::Scoring scoring = read_scoring(scoring_reader, nodes);
    const Int64Array weight_array = Int64Array::ensure(weights);
    const Int8Array mode_array = Int8Array::ensure(modes);
    if (!weight_array || !mode_array || weight_array.size() != sch::kScorePluginCount
        || mode_array.size() != sch::kScorePluginCount) {
        throw py::value_error("weights and modes: expected integer arrays of "
                              + std::to_string(sch::kScorePluginCount) + " entries each");
    }

    Reader batch_reader(batch_arrays, "BatchArrays");
    Reader slot_terms_reader(batch_arrays.attr("slot_terms"), "BatchArrays.slot_terms");
    sch::Batch batch{};
    batch.count = batch_reader.scalar<std::int64_t>("count");
    batch.nodes_to_find = batch_reader.scalar<std::int64_t>("nodes_to_find");
    batch.start_row = batch_reader.scalar<std::int64_t>("start_row");
    if (batch.count < 0 || batch.nodes_to_find < 1) {
        throw py::value_error("BatchArrays: count (" + std::to_string(batch.count)
                              + ") must be >= 0 and nodes_to_find ("
                              + std::to_string(batch.nodes_to_find) + ") >= 1");
    }
    if (batch.start_row < 0 || (nodes.node_count > 0 && batch.start_row >= nodes.node_count)) {
        throw py::value_error("BatchArrays.start_row: " + std::to_string(batch.start_row)
                              + " is out of range for " + std::to_string(nodes.node_count) + " nodes");
    }
    batch.slot_namespace = batch_reader.scalar<std::int32_t>("slot_namespace");
    batch.slot_terminating = batch_reader.scalar<std::uint8_t>("slot_terminating");
    batch.slot_label_keys = batch_reader.array<std::int32_t>("slot_label_keys");
    batch.slot_label_count = batch_reader.size("slot_label_keys");
    batch.slot_label_values = batch_reader.array<std::int32_t>("slot_label_values");
    batch_reader.expect_size("slot_label_values", batch.slot_label_count, "one per label key");
    batch.slot_terms = read_terms(slot_terms_reader, "BatchArrays.slot_terms", -1);

    py::array_t<std::int64_t> rows(static_cast<py::ssize_t>(batch.count));
    sch::BatchOutput out{rows.mutable_data(), 0, rng_state, batch.start_row};
    const std::int64_t* weight_data = weight_array.data();
    const std::int8_t* mode_data = mode_array.data();
    {
        py::gil_scoped_release release;
        sch::schedule_batch(nodes, pod, scoring, weight_data, mode_data, batch, out);
    }
    return py::make_tuple(rows, out.placed, out.rng_state, out.next_start_row);
}

}  // namespace

PYBIND11_MODULE(_native, module) {
    module.doc() = "Native scheduler kernels; use pykube_core.scheduler instead.";
    module.def("filter_nodes", &filter_nodes, py::arg("nodes"), py::arg("pod"),
               "Return (status, plugin, detail, insufficient) arrays, one entry per node.");
    module.def("score_nodes", &score_nodes, py::arg("nodes"), py::arg("pod"),
               py::arg("scoring"), py::arg("candidates"),
               "Return the raw score matrix (candidates x plugins).");
    module.def("select_node", &select_node, py::arg("raw_scores"), py::arg("weights"),
               py::arg("modes"), py::arg("rng_state"),
               "Return (normalized scores, totals, selected row or -1, next rng state).");
    module.def("schedule_batch", &schedule_batch, py::arg("nodes"), py::arg("pod"), py::arg("scoring"),
               py::arg("weights"), py::arg("modes"), py::arg("rng_state"), py::arg("batch"),
               "Return (rows, placed, next rng state, next start row) of a batch of identical pods.");
}
