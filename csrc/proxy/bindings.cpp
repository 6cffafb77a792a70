// pybind11 shims for pykube_core.proxy._native.
//
// Compiler.compile takes a ServicePortRows (pykube_core/proxy/arrays.py) and
// reads its numpy fields by attribute name, so the native compiler and its
// pure-Python twin take the very same object. Dtypes, lengths and offsets
// are checked in every build, because a bad offset would read out of
// bounds.
//
// GIL order: read and check the arrays while holding the GIL, release it
// for the compile, build the Python results after. The arrays stay
// referenced by `keep` for the whole call, so their pointers remain valid
// while the GIL is released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "proxy/compiler.h"

namespace py = pybind11;
namespace px = pykube::proxy;

namespace {

class RowsReader {
public:
    explicit RowsReader(const py::object& source) : source_(source) {}

    // Returns the data of 1-D C-contiguous attribute `name` of dtype T and
    // stores its length in `size`, or raises ValueError naming it.
    template <typename T>
    const T* array(const char* name, py::ssize_t& size) {
        py::array value = source_.attr(name).cast<py::array>();
        const std::string label = std::string("ServicePortRows.") + name;
        if (!value.dtype().is(py::dtype::of<T>())) {
            throw py::value_error(label + ": expected dtype " + std::string(py::str(py::dtype::of<T>())) + ", got "
                                  + std::string(py::str(value.dtype()))
                                  + "; build it with numpy.ascontiguousarray(..., dtype=...)");
        }
        if (value.ndim() != 1 || !(value.flags() & py::array::c_style)) {
            throw py::value_error(label + ": expected a 1-D C-contiguous array");
        }
        size = value.size();
        keep_.push_back(value);
        return static_cast<const T*>(value.data());
    }

private:
    py::object source_;
    std::vector<py::array> keep_;
};

void check_size(const char* name, py::ssize_t size, py::ssize_t expected) {
    if (size != expected) {
        throw py::value_error(std::string("ServicePortRows.") + name + ": expected " + std::to_string(expected)
                              + " entries (one per row, or rows + 1 for offsets), got " + std::to_string(size));
    }
}

void check_offsets(const char* name, const std::int64_t* offsets, py::ssize_t rows, py::ssize_t flat_size) {
    if (offsets[0] != 0 || offsets[rows] != flat_size) {
        throw py::value_error(std::string("ServicePortRows.") + name + ": must start at 0 and end at "
                              + std::to_string(flat_size) + " (the length of its flat arrays)");
    }
    for (py::ssize_t i = 0; i < rows; ++i) {
        if (offsets[i] > offsets[i + 1]) {
            throw py::value_error(std::string("ServicePortRows.") + name + ": decreases at row " + std::to_string(i));
        }
    }
}

px::Rows read_rows(RowsReader& reader) {
    px::Rows rows;
    py::ssize_t n = 0;
    py::ssize_t size = 0;
    rows.ids = reader.array<std::int64_t>("ids", n);
    rows.count = static_cast<std::size_t>(n);
    rows.cluster_ip = reader.array<std::uint32_t>("cluster_ip", size);
    check_size("cluster_ip", size, n);
    rows.protocol = reader.array<std::int32_t>("protocol", size);
    check_size("protocol", size, n);
    rows.port = reader.array<std::int32_t>("port", size);
    check_size("port", size, n);
    rows.node_port = reader.array<std::int32_t>("node_port", size);
    check_size("node_port", size, n);
    rows.flags = reader.array<std::int32_t>("flags", size);
    check_size("flags", size, n);
    rows.affinity_timeout = reader.array<std::int32_t>("affinity_timeout", size);
    check_size("affinity_timeout", size, n);

    rows.external_offsets = reader.array<std::int64_t>("external_offsets", size);
    check_size("external_offsets", size, n + 1);
    py::ssize_t flat = 0;
    rows.external_ip = reader.array<std::uint32_t>("external_ip", flat);
    rows.external_kind = reader.array<std::int32_t>("external_kind", size);
    check_size("external_kind", size, flat);
    check_offsets("external_offsets", rows.external_offsets, n, flat);

    rows.range_offsets = reader.array<std::int64_t>("range_offsets", size);
    check_size("range_offsets", size, n + 1);
    rows.range_ip = reader.array<std::uint32_t>("range_ip", flat);
    rows.range_prefix = reader.array<std::int32_t>("range_prefix", size);
    check_size("range_prefix", size, flat);
    check_offsets("range_offsets", rows.range_offsets, n, flat);

    rows.endpoint_offsets = reader.array<std::int64_t>("endpoint_offsets", size);
    check_size("endpoint_offsets", size, n + 1);
    rows.endpoint_ip = reader.array<std::uint32_t>("endpoint_ip", flat);
    rows.endpoint_port = reader.array<std::int32_t>("endpoint_port", size);
    check_size("endpoint_port", size, flat);
    rows.endpoint_state = reader.array<std::int32_t>("endpoint_state", size);
    check_size("endpoint_state", size, flat);
    check_offsets("endpoint_offsets", rows.endpoint_offsets, n, flat);
    return rows;
}

py::tuple compile(px::Compiler& compiler, const py::object& source, bool full) {
    RowsReader reader(source);
    const px::Rows rows = read_rows(reader);
    std::vector<std::int64_t> conflicts;
    std::string text;
    {
        py::gil_scoped_release release;
        text = compiler.compile(rows, full, conflicts);
    }
    py::array_t<std::int64_t> conflict_array(static_cast<py::ssize_t>(conflicts.size()));
    std::copy(conflicts.begin(), conflicts.end(), conflict_array.mutable_data());
    return py::make_tuple(py::str(text), conflict_array);
}

}  // namespace

PYBIND11_MODULE(_native, module) {
    module.doc() = "Native service rule compiler; use pykube_core.proxy.compiler instead.";
    py::register_exception<std::invalid_argument>(module, "InvalidRows", PyExc_ValueError);

    py::class_<px::Compiler>(module, "Compiler")
        .def(py::init<std::string>(), py::arg("table"))
        .def(
            "set_node_addresses",
            [](px::Compiler& self, const std::vector<std::uint32_t>& addresses) { self.set_node_addresses(addresses); },
            py::arg("addresses"))
        .def("compile", &compile, py::arg("rows"), py::arg("full"))
        .def("commit", [](px::Compiler& self) {
            if (!self.has_pending()) {
                throw py::value_error("commit() without a pending compile; call compile() first");
            }
            self.commit();
        })
        .def("discard", &px::Compiler::discard)
        .def("snapshot", &px::Compiler::snapshot)
        .def("counts", [](const px::Compiler& self) {
            const px::Counts counts = self.counts();
            const std::int64_t backends = counts.elements[px::kBackendsTcp] + counts.elements[px::kBackendsUdp]
                                          + counts.elements[px::kBackendsSctp];
            return py::make_tuple(counts.elements[px::kFrontends], backends,
                                  counts.elements[px::kNoEndpoints], counts.elements[px::kRestricted],
                                  counts.elements[px::kAllowedSources], counts.hairpin, counts.chains);
        });
}
