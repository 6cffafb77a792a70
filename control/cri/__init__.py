"""The node agent's Container Runtime Interface client (client.py), its
errors (errors.py) and the generated runtime.v1 messages (proto/)."""
