"""pykube's core: object model primitives and the Python API over native kernels.

This package never imports the control plane (pykube_control).
"""

__version__ = "0.1.0"
