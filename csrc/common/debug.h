// Debug-only invariant checks for the native kernels.
//
// PYKUBE_DEBUG_CHECK(cond, message) throws std::logic_error naming the file,
// line and message when `cond` is false, but only in builds made with
// PYKUBE_NATIVE_DEBUG=1 (setup.py then defines PYKUBE_DEBUG). pybind11 turns
// the exception into a Python RuntimeError, so a broken invariant fails one
// call instead of aborting a long-running server. Release builds compile the
// check away, so it may sit inside inner loops.
//
// Use it for invariants that the Python side guarantees by construction
// (sorted ids, for example). Input that a caller can get wrong is validated in
// the bindings instead and raises ValueError in every build.
#pragma once

#ifdef PYKUBE_DEBUG
#include <stdexcept>
#include <string>

#define PYKUBE_DEBUG_CHECK(cond, message)                                     \
    do {                                                                      \
        if (!(cond)) {                                                        \
            throw std::logic_error(std::string("pykube invariant failed at ") \
                                   + __FILE__ + ":" + std::to_string(__LINE__) \
                                   + ": " + (message));                       \
        }                                                                     \
    } while (0)
#else
#define PYKUBE_DEBUG_CHECK(cond, message) \
    do {                                  \
    } while (0)
#endif
