"""The API server: the cluster's only entry point, compatible with Kubernetes clients."""
