"""``ghostswap kernel init|show|reset``: the simulated machine itself."""

from __future__ import annotations

import json

import click

from ghostswap_cli.cli.app import App, pass_app
from ghostswap_cli.kernel.params import CONFIG_NAMES, PERSONALITIES
from ghostswap_cli.units import SizeError, parse_size


def _ram(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(parse_size(value))
    except SizeError:
        raise click.BadParameter(f"invalid size '{value}'") from None


def _machine_options(func):
    opts = [
        click.option("--ram", metavar="SIZE", help="Simulated RAM, e.g. 4G [default: 4G]."),
        click.option("--page-size", type=int, metavar="N", help="PAGE_SIZE: 4096, 8192, 16384, 32768 or 65536 [default: 4096]."),
        click.option("--personality", type=click.Choice(PERSONALITIES), help="ghost (the RFC applied) or mainline [default: ghost; mainline with --config distro-6.1]."),
        click.option("--config", "config", type=click.Choice(sorted(CONFIG_NAMES)), help="Kernel configuration that sets MAX_SWAPFILES; distro-6.1 also gives Linux 6.1's behaviour and is mainline only [default: distro-6.18]."),
        click.option("--prio-scheme", type=click.Choice(["decrement", "shared"]), help="Default priorities: decrement from -2 (6.12-6.18) or shared -1 (post-6.18) [default: decrement]."),
        click.option("--backing-rotational", type=click.Choice(["auto", "0", "1"]), help="Rotational flag of swap files' devices; auto reads sysfs [default: auto]."),
        click.option("--backing-discard", type=click.Choice(["auto", "0", "1"]), help="Discard support of swap files' devices; auto reads sysfs [default: auto]."),
        click.option("--ghost-rotate-leak", type=click.Choice(["0", "1"]), help="1 reproduces the RFC's nr_rotate_swap imbalance [default: 0]."),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


def _collect(ram, page_size, personality, config, prio_scheme, backing_rotational,
             backing_discard, ghost_rotate_leak) -> dict[str, str]:
    from ghostswap_cli.kernel.params import parse_machine_value

    raw = {
        "ram": _ram(ram),
        "page_size": None if page_size is None else str(page_size),
        "personality": personality,
        "config": config,
        "prio_scheme": prio_scheme,
        "backing_rotational": backing_rotational,
        "backing_discard": backing_discard,
        "ghost_rotate_leak": ghost_rotate_leak,
    }
    out = {}
    for name, value in raw.items():
        if value is not None:
            try:
                out[name] = parse_machine_value(name, value)
            except ValueError as e:
                raise click.BadParameter(str(e)) from None
    return out


def _check_combination(kept: dict[str, str], machine: dict[str, str]) -> None:
    """A mainline-only configuration with the ghost personality is a usage error."""
    from ghostswap_cli.kernel.params import resolve_machine

    try:
        resolve_machine(kept, machine)
    except ValueError as e:
        raise click.UsageError(str(e)) from None


@click.group(short_help="Initialise, show, reset or check the simulated kernel.")
def kernel() -> None:
    """The simulated machine: its configuration, counters and state directory."""


@kernel.command("init")
@_machine_options
@click.option("-f", "--force", is_flag=True, help="Replace an existing state (as reset with these settings).")
@pass_app
def init(app: App, force: bool, **options) -> None:
    """Create a new simulated machine in the state directory."""
    from ghostswap_cli.kernel.machine import reset_state, state_exists

    machine = _collect(**options)
    _check_combination({}, machine)
    if state_exists(app.state) and not force:
        app.abort(
            f"{app.state}: a simulated kernel already exists; use `ghostswap kernel reset` "
            f"or `kernel init --force`", 1
        )
    with app.guard():
        values = reset_state(app.state, machine, keep_machine=False)
    app.terminal.out(_describe(values, app))


def _describe(values: dict[str, str], app: App) -> str:
    from ghostswap_cli.kernel.params import machine_max_swapfiles

    ram = int(values["ram"])
    return (
        f"state: {app.state}\n"
        f"personality: {values['personality']}, PAGE_SIZE {values['page_size']}, "
        f"RAM {ram // (1 << 20)} MiB, MAX_SWAPFILES {machine_max_swapfiles(values['config'])} "
        f"({values['config']})\n"
    )


@kernel.command("reset")
@_machine_options
@click.option("-f", "--force", is_flag=True, help="Also when the state database is unreadable (starts from defaults).")
@pass_app
def reset(app: App, force: bool, **options) -> None:
    """Reboot the simulated kernel: no active swap, empty pool, counters and log cleared.

    The machine configuration is kept unless overridden by the options. Swap files on disk
    are left alone.
    """
    from ghostswap_cli.kernel.machine import read_machine_params, reset_state, state_exists

    machine = _collect(**options)
    if state_exists(app.state) and read_machine_params(app.state) is None and not force:
        app.abort(f"{app.state}: state database is unreadable; use `kernel reset --force`", 1)
    with app.guard():
        _check_combination(read_machine_params(app.state) or {}, machine)
        values = reset_state(app.state, machine)
    app.terminal.out(_describe(values, app))


@kernel.command("show")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def show(app: App, as_json: bool) -> None:
    """Show the machine: configuration, MAX_SWAPFILES, swap counters, zswap pool and memory."""
    from ghostswap_cli.kernel.params import CONFIG_NAMES
    from ghostswap_cli.uapi import MAX_SWAPFILES_SHIFT

    with app.guard(), app.kernel(write=False) as k:
        config = CONFIG_NAMES[k.machine["config"]]
        device, migration, hwpoison, marker = config.swp_nums
        swapin_error = (f" - SWP_SWAPIN_ERROR_NUM({config.swapin_error_num})"
                        if config.swapin_error_num else "")
        info = {
            "state": str(app.state),
            "machine": dict(k.machine),
            "max_swapfiles": k.max_swapfiles,
            "max_swapfiles_formula": (
                f"2^{MAX_SWAPFILES_SHIFT} - SWP_DEVICE_NUM({device}) - SWP_MIGRATION_NUM({migration})"
                f" - SWP_HWPOISON_NUM({hwpoison}) - SWP_PTE_MARKER_NUM({marker}){swapin_error}"
            ),
            "nr_swapfiles": len(k.swap_info),
            "active": len(k.active()),
            "total_swap_pages": k.total_swap_pages,
            "nr_swap_pages": k.nr_swap_pages,
            "nr_rotate_swap": k.counters["nr_rotate_swap"],
            "nr_real_swapfiles": k.nr_real_swapfiles(),
            "least_priority": k.counters["least_priority"],
            "totalram_pages": k.totalram_pages,
            "free_ram_pages": k.free_ram_pages,
            "swapcache_pages": k.counters["nr_swapcache_pages"],
            "corrupt_pages": k.counters["corrupt_pages"],
            "unreadable_pages": len(k.unreadable),
            "zswap": {
                "parameters": {p.rsplit("/", 1)[1]: v for p, v in k.params.items()},
                "stored_pages": k.zswap_stored_pages(),
                "decompress_fail": k.counters["decompress_fail"],
                "pool_total_size": k.pool_pages * k.page_size,
            },
        }
    if as_json:
        app.terminal.out(json.dumps(info, indent=2) + "\n")
        return
    m = info["machine"]
    lines = [
        f"state directory     {info['state']}",
        f"personality         {m['personality']}",
        f"PAGE_SIZE           {m['page_size']}",
        f"RAM                 {int(m['ram']) // 1024} kB ({info['free_ram_pages']} pages free)",
        f"config              {m['config']}",
        f"MAX_SWAPFILES       {info['max_swapfiles']} = {info['max_swapfiles_formula']}",
        f"prio scheme         {m['prio_scheme']}",
        f"backing devices     rotational={m['backing_rotational']} discard={m['backing_discard']}",
        f"active areas        {info['active']} (nr_swapfiles {info['nr_swapfiles']})",
        f"total_swap_pages    {info['total_swap_pages']}",
        f"nr_swap_pages       {info['nr_swap_pages']}",
        f"nr_rotate_swap      {info['nr_rotate_swap']}",
        f"nr_real_swapfiles   {info['nr_real_swapfiles']}",
        f"least_priority      {info['least_priority']}",
        f"swap cache pages    {info['swapcache_pages']}",
        f"corrupt pages       {info['corrupt_pages']} came back corrupt or were dropped since boot;"
        f" {info['unreadable_pages']} swapped out that swapoff could not read (see dmesg, "
        f"kernel fsck)",
        "zswap               " + ", ".join(f"{n}={v}" for n, v in info["zswap"]["parameters"].items()),
        f"zswap pool          {info['zswap']['stored_pages']} pages stored, {info['zswap']['pool_total_size']} bytes",
    ]
    app.terminal.out("\n".join(lines) + "\n")


class _FsckCommand(click.Command):
    """Usage errors exit 16, as fsck(8)'s do."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as e:
            from ghostswap_cli.kernel.repair import EXIT_USAGE

            e.exit_code = EXIT_USAGE
            raise


@kernel.command("fsck", cls=_FsckCommand,
                short_help="Check the state for consistency, and repair it.")
@click.option("--repair", is_flag=True, help="Fix what can be fixed without losing a page whose data can still be found; say what could not be.")
@click.option("--verify", is_flag=True, help="Also read every swapped-out page and check it against its CRC32 (read-only).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@pass_app
def fsck(app: App, repair: bool, verify: bool, as_json: bool) -> None:
    """Check the simulated kernel's state: swap_map counts against the page table and the
    zswap pool, counters against rows, pool bytes against entries, the zswap LRU, the cluster
    allocator, the pool's free lists, backing files (still there, the same file, the same
    header) and every record's format. One line per problem.

    With --repair, the page table is taken as the truth and everything derived from it is
    rebuilt; an area whose file is gone or changed is deactivated with its pages brought back
    into RAM; pages whose data is found nowhere are marked lost and listed. Without --repair
    nothing is changed.

    Exit status: 0 clean; 1 problems found (with --repair: found and repaired); 4 problems
    left unrepaired or pages lost; 8 the state cannot be opened or read; 16 usage error.
    """
    import json

    from ghostswap_cli.kernel.repair import format_report
    from ghostswap_cli.kernel.repair import fsck as run_fsck

    def waiting() -> None:
        app.terminal.info(f"waiting for the state lock of {app.state} ...")

    report = run_fsck(app.state, repair=repair, verify=verify, on_wait=waiting)
    if as_json:
        app.terminal.out(json.dumps(report.to_json(), indent=2) + "\n")
    elif report.error is None or report.problems:
        app.terminal.out(format_report(report) if report.error is None else
                         "".join(f"problem: {p.text}\n" for p in report.problems))
    if report.error is not None and not as_json:
        app.terminal.error(report.error)
    raise SystemExit(report.exit_status)
