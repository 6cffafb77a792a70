"""The service proxy: Services and EndpointSlices into one nftables table.

`pykube proxy` watches Services, EndpointSlices and its Node, compiles them
with pykube_core.proxy's rule compiler and applies the result through
libnftables, one atomic transaction per sync.
"""
