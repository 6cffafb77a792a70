"""Per-kind validation and defaulting of API objects, with Kubernetes field paths and messages."""
