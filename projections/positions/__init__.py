"""Read model `positions`: projector, set-based bulk rebuild, queries and answer shapes."""
