"""The application layer: command handlers, their context, access rules and errors."""
