"""Read model `institutions`: projector, queries and answer shapes."""
