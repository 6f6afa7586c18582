"""What every read model is written against: the projector base, the log's events as the read
side reads them, the shared answer types and the query helpers."""
