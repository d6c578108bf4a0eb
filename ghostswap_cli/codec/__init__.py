"""Bytes in, typed objects out: the on-disk and trace formats. No I/O beyond the buffer given."""
