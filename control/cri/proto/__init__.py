"""Generated protobuf and gRPC modules for the part of the CRI runtime.v1 API
that the node agent calls. Edit api.proto and run scripts/gen-cri-proto
instead of editing the api_pb2 files."""
