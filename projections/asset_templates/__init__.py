"""Read model `asset_templates`: projector, queries and answer shapes."""
