"""``ghostswap plot TIMELINE.csv -o FILE.png``: draw a replay timeline (needs the plot extra)."""

from __future__ import annotations

from pathlib import Path

import click

from ghostswap_cli.cli.app import App, pass_app


@click.command(short_help="Plot a replay timeline CSV to a PNG.")
@click.argument("timeline", type=click.Path(dir_okay=False, path_type=Path), metavar="TIMELINE.csv")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.png",
              help="The PNG to write [default: TIMELINE with a .png suffix].")
@click.option("--title", metavar="TEXT", help="Title of the figure [default: names the CSV].")
@pass_app
def plot(app: App, timeline: Path, output: Path | None, title: str | None) -> None:
    """Draw TIMELINE.csv, written by ``ghostswap replay --timeline``, as a PNG of four panels
    sharing the event axis: zswap pool size (MiB), stored pages, compression ratio, and pages
    written back to a real swap file beside pages that stayed resident (ghost write failed).

    Needs matplotlib: pip install 'ghostswap[plot]'.
    """
    from ghostswap_cli.replay.plot import plot_timeline

    png = output if output is not None else timeline.with_suffix(".png")
    if png == timeline:
        app.abort(f"{png}: the PNG would replace the timeline; use -o", 1)
    with app.guard():
        plot_timeline(timeline, png, title=title)
    app.terminal.info(f"wrote {png}")
