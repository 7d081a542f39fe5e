"""Generated protobuf and gRPC stubs for proto/monolith_ps/v1 (``make proto``)."""
