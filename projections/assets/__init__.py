"""Read model `assets`: projector, queries and answer shapes."""
