"""Generated protobuf and gRPC modules for the part of the etcd v3 API that
the etcd store calls. Edit kv.proto or rpc.proto and run
scripts/gen-etcd-proto instead of editing the *_pb2 files."""
