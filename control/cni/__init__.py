"""The pykube CNI plugin: a bridge per node, a veth pair per pod, IPAM from the node's pod CIDR.

containerd runs the plugin once per pod start and stop, so the package
imports nothing at import time, and each module imports only the standard
library. ``plugin.main`` is the entry point; ``install`` writes the
executable and the network configuration that containerd reads.
"""
