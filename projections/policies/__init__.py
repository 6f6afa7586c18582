"""Read model `policies`: projector, queries and answer shapes."""
