"""The state directory: one SQLite database plus the zswap pool arena."""
