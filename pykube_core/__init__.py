"""pykube's core: object model primitives and the Python API over native kernels.

This package never imports the control plane (pykube_control).
"""

__version__ = "0.1.0"


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
