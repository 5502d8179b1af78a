"""Output: results to stdout (a table, or JSON), progress, logs and errors to stderr."""
