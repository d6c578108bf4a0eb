"""The util-linux side in plain Python: mkswap, swaplabel, probe (and swapon/swapoff).

Each tool takes a small control object and a :class:`~ghostswap_cli.userspace.common.Report`,
writes its results and diagnostics through the report in util-linux's words, returns an exit
status and raises :class:`~ghostswap_cli.errors.ToolError` for the failures util-linux reports
with ``err()``/``errx()``. Nothing here imports click or rich.
"""
