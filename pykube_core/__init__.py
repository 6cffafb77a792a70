"""pykube's core: object model primitives and the Python API over native kernels.

This package never imports the control plane (pykube_control).
"""

__version__ = "0.1.0"

KUBERNETES_VERSION = (1, 31)
"""The Kubernetes version, as (major, minor), that the API server reports and the node agents report as theirs.

kubectl warns when its own minor version is more than one away from the
server's, and Kubernetes' version skew policy forbids a kubelet newer than
its API server, so every component reports this one version.
"""


def component_version() -> str:
    """Return the version string of pykube's components, such as ``v1.31.0+pykube.0.1.0``."""
    major, minor = KUBERNETES_VERSION
    return f"v{major}.{minor}.0+pykube.{__version__}"


def native_status() -> dict[str, str]:
    """Return, per native module, "loaded" or the import error that disabled it."""
    import importlib

    status = {}
    modules = (
        "pykube_core._selector_native",
        "pykube_core._quantity_native",
        "pykube_core._watchhub_native",
        "pykube_core.scheduler._native",
    )
    for name in modules:
        try:
            importlib.import_module(name)
            status[name] = "loaded"
        except ImportError as exc:
            status[name] = f"not loaded ({exc})"
    return status
