"""X.509 helpers shared by the API server, the CSR controllers and the node agent's bootstrap."""
