"""pykube's control plane: store, API server, scheduler, controllers, agents and the CLI."""
