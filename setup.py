"""Build the native extensions of pykube_core.

Metadata, dependencies and packages live in pyproject.toml. This file only
declares the C++ (pybind11) and Cython extension modules, and checks before
building that a C++ compiler and the Python headers are present, so a missing
tool fails with the package to install instead of a compiler traceback.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import sysconfig

# PYKUBE_NATIVE_DEBUG=1 compiles the invariant checks that cost time in the
# kernels' inner loops (see csrc/common/debug.h).
DEBUG = os.environ.get("PYKUBE_NATIVE_DEBUG") == "1"
DEBUG_MACROS = [("PYKUBE_DEBUG", "1")] if DEBUG else [("NDEBUG", "1")]


def check_build_tools() -> None:
    """Exit with an install hint when the compiler or Python.h is missing."""
    compiler = os.environ.get("CXX", "c++").split()[0]
    if shutil.which(compiler) is None:
        sys.exit(
            f"pykube: C++ compiler {compiler!r} not found. Install one "
            "(Debian: apt-get install build-essential) or set CXX."
        )
    include_dir = sysconfig.get_paths()["include"]
    if not os.path.exists(os.path.join(include_dir, "Python.h")):
        sys.exit(
            f"pykube: Python.h not found in {include_dir}. Install the Python "
            "development headers (Debian: apt-get install python3-dev)."
        )


NATIVE_BUILD_COMMANDS = {"build", "build_ext", "bdist_wheel", "install", "develop", "editable_wheel"}
if NATIVE_BUILD_COMMANDS.intersection(sys.argv):
    check_build_tools()

try:
    import numpy
    from Cython.Build import cythonize
    from pybind11.setup_helpers import Pybind11Extension, build_ext
    from setuptools import Extension, setup
except ImportError as exc:
    # pip installs these first unless --no-build-isolation is given.
    sys.exit(
        f"pykube: build requirement {exc.name!r} is missing. Install the build "
        "requirements (pip install setuptools wheel pybind11 Cython numpy) or "
        "build without --no-build-isolation."
    )

def headers(*folders: str) -> list[str]:
    """Return the headers of ``folders`` under csrc/, so editing one rebuilds its extensions."""
    return sorted(path for folder in folders for path in glob.glob(f"csrc/{folder}/*.h"))


cpp_extensions = [
    Pybind11Extension(
        "pykube_core._selector_native",
        sources=[
            "csrc/selector/match.cpp",
            "csrc/selector/bindings.cpp",
        ],
        depends=headers("common", "selector"),
        include_dirs=["csrc"],
        define_macros=DEBUG_MACROS,
        cxx_std=17,
        extra_compile_args=["-O3"],
    ),
    Pybind11Extension(
        "pykube_core._watchhub_native",
        sources=[
            "csrc/selector/match.cpp",
            "csrc/watchhub/hub.cpp",
            "csrc/watchhub/bindings.cpp",
        ],
        depends=headers("common", "selector", "watchhub"),
        include_dirs=["csrc"],
        define_macros=DEBUG_MACROS,
        cxx_std=17,
        extra_compile_args=["-O3"],
    ),
    Pybind11Extension(
        "pykube_core.scheduler._native",
        sources=[
            "csrc/scheduler/filter.cpp",
            "csrc/scheduler/score.cpp",
            "csrc/scheduler/select.cpp",
            "csrc/scheduler/bindings.cpp",
            "csrc/scheduler/batch.cpp",
        ],
        depends=headers("common", "scheduler"),
        include_dirs=["csrc"],
        define_macros=DEBUG_MACROS,
        cxx_std=17,
        # No fused multiply-add, so the balanced-allocation score rounds
        # exactly as the pure-Python reference does.
        extra_compile_args=["-O3", "-ffp-contract=off"],
    ),
    Pybind11Extension(
        "pykube_core.proxy._native",
        sources=[
            "csrc/proxy/compiler.cpp",
            "csrc/proxy/bindings.cpp",
        ],
        depends=headers("common", "proxy"),
        include_dirs=["csrc"],
        define_macros=DEBUG_MACROS,
        cxx_std=17,
        extra_compile_args=["-O3"],
    ),
]

cython_extensions = cythonize(
    [
        Extension(
            "pykube_core._quantity_native",
            sources=["pykube_core/_quantity_native.pyx"],
            include_dirs=[numpy.get_include()],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
            extra_compile_args=["-O3"],
        ),
    ],
    compiler_directives={
        "language_level": "3",
        "boundscheck": DEBUG,
        "wraparound": False,
        "initializedcheck": DEBUG,
    },
)

class BuildExtWithPause(build_ext):
    """build_ext that also compiles pykube-pause, the pod sandbox process.

    csrc/pause/pause.c is a program, not an extension module: it runs as
    PID 1 of every pod sandbox, inside an image with no libc, so it is
    linked statically. The binary goes next to the modules of
    pykube_control.agent, in the build tree for wheels and in control/agent/
    for in-place and editable builds.
    """

    def run(self) -> None:
        super().run()
        self.build_pause()

    def build_pause(self) -> None:
        source = "csrc/pause/pause.c"
        if self.inplace or getattr(self, "editable_mode", False):
            build_py = self.get_finalized_command("build_py")
            out_dir = build_py.get_package_dir("pykube_control.agent")
        else:
            out_dir = os.path.join(self.build_lib, "pykube_control", "agent")
        target = os.path.join(out_dir, "pykube-pause")
        if not self.force and os.path.exists(target) and os.path.getmtime(target) >= os.path.getmtime(source):
            return
        os.makedirs(out_dir, exist_ok=True)
        compiler = os.environ.get("CC", "cc").split()
        command = [*compiler, "-static", "-O2", "-s", "-Wall", "-Wextra", "-o", target, source]
        try:
            subprocess.run(command, check=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            sys.exit(
                f"pykube: building {target} with {' '.join(command)!r} failed ({exc}). A static "
                "link needs the C library's static archive (Debian: apt-get install libc6-dev) "
                "and a C compiler (set CC to choose one)."
            )


# setup() below registers the name build_ext, so rebinding it adds the
# pause build without changing that line.
build_ext = BuildExtWithPause

setup(ext_modules=cpp_extensions + cython_extensions, cmdclass={"build_ext": build_ext})
