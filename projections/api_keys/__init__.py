"""Read model `api_keys`: projector, queries and answer shapes."""
