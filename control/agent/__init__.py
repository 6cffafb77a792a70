"""Node agents: the components that run the pods bound to a node and report their status.

fake.py is a hollow node runtime in the spirit of kubemark: it registers
many Node objects from one process and reports their pods Running without
starting any container, so the control plane can be exercised at scale.
"""
