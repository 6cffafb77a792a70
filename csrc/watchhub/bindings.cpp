// pybind11 shims for pykube_core._watchhub_native.
//
// The shims check dtypes, lengths and id ranges, then call the Hub in
// hub.cpp. Interning, selector compilation and the mapping of slots to
// frames live in pykube_core/watch_hub.py.
//
// Ownership and lifetime: add_watcher copies the selector arrays into the
// hub, so the caller may drop them at once. publish borrows the event arrays
// only for the call. The caller's frame keeps them referenced while the GIL
// is released, so the pointers stay valid. Every array returned is a new
// numpy array that the caller owns. The hub owns each watcher's pending
// queue until drain or remove_watcher copies it out.
//
// GIL order in publish: check the arrays and take their pointers while
// holding the GIL, release it for the fan-out loop, and build the result
// arrays after taking it back.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "selector/match.h"
#include "watchhub/hub.h"

namespace py = pybind11;
namespace hub = pykube::watchhub;

namespace {

// Returns a pointer to the data of a 1-D C-contiguous array of dtype T, or
// raises ValueError naming the argument.
template <typename T>
const T* vector_data(const py::array& array, const std::string& name) {
    if (!array.dtype().is(py::dtype::of<T>())) {
        throw py::value_error(name + ": expected dtype " + std::string(py::str(py::dtype::of<T>()))
                              + ", got " + std::string(py::str(array.dtype()))
                              + "; convert it with numpy.ascontiguousarray(..., dtype=...)");
    }
    if (array.ndim() != 1) {
        throw py::value_error(name + ": expected a 1-D array, got " + std::to_string(array.ndim())
                              + " dimensions");
    }
    if (!(array.flags() & py::array::c_style)) {
        throw py::value_error(name + ": array is not C-contiguous; pass numpy.ascontiguousarray(...)");
    }
    return static_cast<const T*>(array.data());
}

template <typename T>
std::vector<T> copy_vector(const py::array& array, const std::string& name) {
    const T* data = vector_data<T>(array, name);
    return std::vector<T>(data, data + array.size());
}

void check_length(py::ssize_t actual, py::ssize_t expected, const std::string& name,
                  const char* expected_from) {
    if (actual != expected) {
        throw py::value_error(name + ": expected " + std::to_string(expected) + " entries ("
                              + expected_from + "), got " + std::to_string(actual));
    }
}

template <typename T>
void check_range(const std::vector<T>& values, std::int64_t low, std::int64_t high,
                 const std::string& name) {
    for (std::size_t i = 0; i < values.size(); ++i) {
        const auto value = static_cast<std::int64_t>(values[i]);
        if (value < low || value > high) {
            throw py::value_error(name + "[" + std::to_string(i) + "]: " + std::to_string(value)
                                  + " is out of range; expected " + std::to_string(low) + " to "
                                  + std::to_string(high));
        }
    }
}

void check_namespace_id(std::int64_t namespace_id, const char* name) {
    if (namespace_id < hub::kAnyNamespace || namespace_id > INT32_MAX) {
        throw py::value_error(std::string(name) + ": " + std::to_string(namespace_id)
                              + " is not a namespace id; expected -1 (any) or an id from 0");
    }
}

// Checks the compiled label selector of a new watcher.
void check_label_selector(const hub::WatcherSpec& spec) {
    const std::int8_t max_op = pykube::selector::kMaxOpCode;
    check_range(spec.ops, 0, max_op, "ops");
    check_range(spec.key_ids, 0, INT32_MAX, "key_ids");
    check_range(spec.value_ids, 0, INT32_MAX, "value_ids");
    check_length(static_cast<py::ssize_t>(spec.key_ids.size()),
                 static_cast<py::ssize_t>(spec.ops.size()), "key_ids", "one per entry of ops");
    check_length(static_cast<py::ssize_t>(spec.value_offsets.size()),
                 static_cast<py::ssize_t>(spec.ops.size()) + 1, "value_offsets", "len(ops) + 1");
    const auto value_count = static_cast<std::int64_t>(spec.value_ids.size());
    if (spec.value_offsets.front() != 0 || spec.value_offsets.back() != value_count) {
        throw py::value_error("value_offsets: expected to start at 0 and end at len(value_ids) = "
                              + std::to_string(value_count));
    }
    for (std::size_t r = 0; r < spec.ops.size(); ++r) {
        const std::int64_t begin = spec.value_offsets[r];
        const std::int64_t end = spec.value_offsets[r + 1];
        if (begin > end) {
            throw py::value_error("value_offsets: decreases at index " + std::to_string(r));
        }
        for (std::int64_t v = begin + 1; v < end; ++v) {
            if (spec.value_ids[v - 1] >= spec.value_ids[v]) {
                throw py::value_error("value_ids: the values of requirement " + std::to_string(r)
                                      + " are not strictly increasing; sort them");
            }
        }
    }
}

// Borrows one object state of an event after checking its arrays.
hub::ObjectView object_view(std::int64_t namespace_id, const py::array& key_ids,
                            const py::array& value_ids, const py::array& field_values,
                            std::int32_t field_count, const std::string& prefix) {
    check_namespace_id(namespace_id, (prefix + "namespace_id").c_str());
    hub::ObjectView view{};
    view.namespace_id = static_cast<std::int32_t>(namespace_id);
    view.key_ids = vector_data<std::int32_t>(key_ids, prefix + "key_ids");
    view.value_ids = vector_data<std::int32_t>(value_ids, prefix + "value_ids");
    view.field_values = vector_data<std::int32_t>(field_values, prefix + "field_values");
    view.label_count = static_cast<std::int64_t>(key_ids.size());
    check_length(value_ids.size(), key_ids.size(), prefix + "value_ids", "one per label key");
    check_length(field_values.size(), field_count, prefix + "field_values", "the hub's field_count");
    // An event has a handful of labels and fields, so these checks run in
    // every build: an unsorted key list would make the binary search miss.
    for (std::int64_t i = 0; i < view.label_count; ++i) {
        if (view.key_ids[i] < 0 || view.value_ids[i] < 0
            || (i > 0 && view.key_ids[i - 1] >= view.key_ids[i])) {
            throw py::value_error(prefix
                                  + "key_ids: expected non-negative, strictly increasing key ids "
                                    "with non-negative value ids; the problem is at index "
                                  + std::to_string(i));
        }
    }
    for (std::int32_t f = 0; f < field_count; ++f) {
        if (view.field_values[f] < 0) {
            throw py::value_error(prefix + "field_values[" + std::to_string(f)
                                  + "]: negative value id " + std::to_string(view.field_values[f]));
        }
    }
    return view;
}

template <typename T>
py::array_t<T> to_array(const std::vector<T>& values) {
    py::array_t<T> array(static_cast<py::ssize_t>(values.size()));
    std::copy(values.begin(), values.end(), array.mutable_data());
    return array;
}

py::tuple drained_tuple(const hub::Drained& drained) {
    py::object overflow_slot = py::none();
    if (drained.overflow_slot >= 0) {
        overflow_slot = py::int_(drained.overflow_slot);
    }
    return py::make_tuple(to_array(drained.slots), to_array(drained.types), overflow_slot);
}

py::key_error unknown_watcher(std::int64_t id) {
    return py::key_error("watcher " + std::to_string(id)
                         + " is not registered in this hub; it was removed or never added");
}

std::unique_ptr<hub::Hub> make_hub(std::int64_t field_count, std::int64_t index_field) {
    if (field_count < 0 || field_count > INT32_MAX) {
        throw py::value_error("field_count: " + std::to_string(field_count)
                              + " is out of range; expected 0 or more");
    }
    if (index_field < hub::kNoIndexField || index_field >= field_count) {
        throw py::value_error("index_field: " + std::to_string(index_field)
                              + " is not a field column; expected -1 (none) or 0 to "
                              + std::to_string(field_count - 1));
    }
    return std::make_unique<hub::Hub>(static_cast<std::int32_t>(field_count),
                                      static_cast<std::int32_t>(index_field));
}

std::int64_t add_watcher(hub::Hub& self, std::int64_t namespace_id, bool matches_nothing,
                         const py::array& ops, const py::array& key_ids,
                         const py::array& value_offsets, const py::array& value_ids,
                         const py::array& field_columns, const py::array& field_ops,
                         const py::array& field_value_ids, std::int64_t capacity) {
    check_namespace_id(namespace_id, "namespace_id");
    if (capacity < 1) {
        throw py::value_error("capacity: " + std::to_string(capacity)
                              + " is too small; a watcher needs room for at least 1 delivery");
    }
    hub::WatcherSpec spec;
    spec.namespace_id = static_cast<std::int32_t>(namespace_id);
    spec.matches_nothing = matches_nothing;
    spec.capacity = capacity;
    spec.ops = copy_vector<std::int8_t>(ops, "ops");
    spec.key_ids = copy_vector<std::int32_t>(key_ids, "key_ids");
    spec.value_offsets = copy_vector<std::int64_t>(value_offsets, "value_offsets");
    spec.value_ids = copy_vector<std::int32_t>(value_ids, "value_ids");
    if (spec.value_offsets.empty()) {
        throw py::value_error("value_offsets: expected len(ops) + 1 entries, got 0");
    }
    check_label_selector(spec);

    const auto columns = copy_vector<std::int32_t>(field_columns, "field_columns");
    const auto operators = copy_vector<std::int8_t>(field_ops, "field_ops");
    const auto values = copy_vector<std::int32_t>(field_value_ids, "field_value_ids");
    check_length(static_cast<py::ssize_t>(operators.size()),
                 static_cast<py::ssize_t>(columns.size()), "field_ops",
                 "one per entry of field_columns");
    check_length(static_cast<py::ssize_t>(values.size()), static_cast<py::ssize_t>(columns.size()),
                 "field_value_ids", "one per entry of field_columns");
    check_range(columns, 0, static_cast<std::int64_t>(self.field_count()) - 1, "field_columns");
    check_range(operators, 0, 1, "field_ops");
    // Value id 0 stands for values no watcher names, so a requirement never uses it.
    check_range(values, 1, INT32_MAX, "field_value_ids");
    for (std::size_t i = 0; i < columns.size(); ++i) {
        spec.fields.push_back(
            hub::FieldTerm{columns[i], values[i], static_cast<hub::FieldOp>(operators[i])});
    }
    return self.add(std::move(spec));
}

py::tuple publish(hub::Hub& self, std::int64_t slot, std::int64_t event_type,
                  std::int64_t namespace_id, const py::array& key_ids, const py::array& value_ids,
                  const py::array& field_values, std::int64_t old_namespace_id,
                  const py::array& old_key_ids, const py::array& old_value_ids,
                  const py::array& old_field_values) {
    if (event_type < 0 || event_type > hub::kMaxEventType) {
        throw py::value_error("event_type: invalid code " + std::to_string(event_type)
                              + "; expected 0 (ADDED), 1 (MODIFIED) or 2 (DELETED)");
    }
    const std::int32_t field_count = self.field_count();
    const hub::ObjectView object =
        object_view(namespace_id, key_ids, value_ids, field_values, field_count, "");
    const hub::ObjectView old = object_view(old_namespace_id, old_key_ids, old_value_ids,
                                            old_field_values, field_count, "old_");

    hub::PublishResult result;
    {
        py::gil_scoped_release release;
        self.publish(slot, static_cast<hub::EventType>(event_type), object, old, &result);
    }
    return py::make_tuple(to_array(result.delivered), to_array(result.overflowed));
}

py::tuple drain(hub::Hub& self, std::int64_t watcher_id) {
    hub::Drained drained;
    if (!self.drain(watcher_id, &drained)) {
        throw unknown_watcher(watcher_id);
    }
    return drained_tuple(drained);
}

py::object remove_watcher(hub::Hub& self, std::int64_t watcher_id) {
    hub::Drained drained;
    if (!self.remove(watcher_id, &drained)) {
        return py::none();
    }
    return drained_tuple(drained);
}

std::int64_t pending(const hub::Hub& self, std::int64_t watcher_id) {
    const std::int64_t count = self.pending(watcher_id);
    if (count < 0) {
        throw unknown_watcher(watcher_id);
    }
    return count;
}

}  // namespace

PYBIND11_MODULE(_watchhub_native, module) {
    module.doc() = "Native watch fan-out hub; use pykube_core.watch_hub instead.";
    py::class_<hub::Hub>(module, "Hub")
        .def(py::init(&make_hub), py::arg("field_count"), py::arg("index_field"))
        .def_property_readonly("field_count", &hub::Hub::field_count)
        .def_property_readonly("index_field", &hub::Hub::index_field)
        .def("add_watcher", &add_watcher, py::arg("namespace_id"), py::arg("matches_nothing"),
             py::arg("ops"), py::arg("key_ids"), py::arg("value_offsets"), py::arg("value_ids"),
             py::arg("field_columns"), py::arg("field_ops"), py::arg("field_value_ids"),
             py::arg("capacity"), "Add a watcher and return its id.")
        .def("remove_watcher", &remove_watcher, py::arg("watcher_id"),
             "Remove a watcher; return its pending (slots, types, overflow_slot), or None "
             "when the id is unknown.")
        .def("publish", &publish, py::arg("slot"), py::arg("event_type"), py::arg("namespace_id"),
             py::arg("key_ids"), py::arg("value_ids"), py::arg("field_values"),
             py::arg("old_namespace_id"), py::arg("old_key_ids"), py::arg("old_value_ids"),
             py::arg("old_field_values"),
             "Fan one event out; return (delivered ids, overflowed ids) as int64 arrays.")
        .def("drain", &drain, py::arg("watcher_id"),
             "Take a watcher's pending deliveries: (slots, types, overflow_slot or None).")
        .def("pending", &pending, py::arg("watcher_id"),
             "Return the number of deliveries waiting in a watcher's queue.")
        .def("footprint_bytes", &hub::Hub::footprint_bytes,
             "Return an estimate of the heap bytes the hub holds.")
        .def("__len__", &hub::Hub::size);
}
