"""Generated protobuf module of gnostic's OpenAPI v2 model, the subset the
API server writes. Edit openapiv2.proto and run scripts/gen-openapi-proto
instead of editing openapiv2_pb2.py."""
