"""Following the log live: the runner, its batches, tracking, locks, lag and metrics, and the
read-your-writes waiter."""
