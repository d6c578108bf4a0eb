"""Kernel-visible constants, under the kernel's own names.

Sources: ``include/linux/swap.h`` and ``include/uapi/linux/swap.h`` (read at 6.12.117; SWP_GHOST
from the ghost swapfile RFC of 21 Nov 2025), ``include/linux/swapops.h`` for the swap entry
layout, ``mm/swapfile.c`` for SWAPFILE_CLUSTER.
"""

from __future__ import annotations

import enum

__all__ = (
    "SWAP_FLAG_PREFER",
    "SWAP_FLAG_PRIO_MASK",
    "SWAP_FLAG_PRIO_SHIFT",
    "SWAP_FLAG_DISCARD",
    "SWAP_FLAG_DISCARD_ONCE",
    "SWAP_FLAG_DISCARD_PAGES",
    "SWAP_FLAGS_VALID",
    "SWP",
    "SWAP_MAP_MAX",
    "SWAP_MAP_BAD",
    "SWAP_HAS_CACHE",
    "SWAPFILE_CLUSTER",
    "MAX_SWAPFILES_SHIFT",
    "SWP_TYPE_SHIFT",
    "SWP_OFFSET_MASK",
    "SWAP_SIGNATURE",
    "OLD_SWAP_SIGNATURE",
    "SWAP_SIGNATURE_SZ",
    "SWAP_HEADER_BADPAGES_OFFSET",
    "SWAP_UUID_LENGTH",
    "SWAP_LABEL_LENGTH",
    "MIN_GOODPAGES",
    "MAX_SWAP_BADPAGES",
    "PAGE_SIZES",
    "max_swapfiles",
    "KernelConfig",
)

# include/uapi/linux/swap.h: the swapflags argument of swapon(2)
SWAP_FLAG_PREFER = 0x8000
SWAP_FLAG_PRIO_MASK = 0x7FFF
SWAP_FLAG_PRIO_SHIFT = 0
SWAP_FLAG_DISCARD = 0x10000
SWAP_FLAG_DISCARD_ONCE = 0x20000
SWAP_FLAG_DISCARD_PAGES = 0x40000
SWAP_FLAGS_VALID = (
    SWAP_FLAG_PRIO_MASK
    | SWAP_FLAG_PREFER
    | SWAP_FLAG_DISCARD
    | SWAP_FLAG_DISCARD_ONCE
    | SWAP_FLAG_DISCARD_PAGES
)


class SWP(enum.IntFlag):
    """``swap_info_struct.flags`` (include/linux/swap.h, 6.12; SWP_GHOST from the RFC)."""

    SWP_USED = 1 << 0
    SWP_WRITEOK = 1 << 1
    SWP_DISCARDABLE = 1 << 2
    SWP_DISCARDING = 1 << 3
    SWP_SOLIDSTATE = 1 << 4
    SWP_CONTINUED = 1 << 5
    SWP_BLKDEV = 1 << 6
    SWP_ACTIVATED = 1 << 7
    SWP_FS_OPS = 1 << 8
    SWP_AREA_DISCARD = 1 << 9
    SWP_PAGE_DISCARD = 1 << 10
    SWP_STABLE_WRITES = 1 << 11
    SWP_SYNCHRONOUS_IO = 1 << 12
    SWP_GHOST = 1 << 13  # RFC: "not backed by anything"


# swap_map byte values (include/linux/swap.h)
SWAP_MAP_MAX = 0x3E
SWAP_MAP_BAD = 0x3F
SWAP_HAS_CACHE = 0x40

# SWAPFILE_CLUSTER is HPAGE_PMD_NR (512) on x86-64 with CONFIG_THP_SWAP.
SWAPFILE_CLUSTER = 512

# swp_entry_t on 64-bit: the type lives above the offset, as in include/linux/swapops.h
# (SWP_TYPE_SHIFT = BITS_PER_XA_VALUE - MAX_SWAPFILES_SHIFT = 63 - 5).
MAX_SWAPFILES_SHIFT = 5
SWP_TYPE_SHIFT = 58
SWP_OFFSET_MASK = (1 << SWP_TYPE_SHIFT) - 1

# include/linux/swap.h union swap_header, util-linux include/swapheader.h
SWAP_SIGNATURE = b"SWAPSPACE2"
OLD_SWAP_SIGNATURE = b"SWAP-SPACE"
SWAP_SIGNATURE_SZ = 10
SWAP_HEADER_BADPAGES_OFFSET = 1536
SWAP_UUID_LENGTH = 16
SWAP_LABEL_LENGTH = 16
MIN_GOODPAGES = 10  # util-linux mkswap: an area needs at least 10 pages

# Page sizes a header can be written for (mkswap -p accepts any power of two >= 2048; the
# kernels that exist use these).
PAGE_SIZES = (4096, 8192, 16384, 32768, 65536)


def MAX_SWAP_BADPAGES(page_size: int) -> int:  # noqa: N802 - kernel macro name
    """Bad-page entries that fit between ``badpages`` and the magic (include/linux/swap.h)."""
    return (page_size - SWAP_SIGNATURE_SZ - SWAP_HEADER_BADPAGES_OFFSET) // 4


@enum.unique
class KernelConfig(enum.Enum):
    """Kernel configurations whose MAX_SWAPFILES the simulator can declare.

    MAX_SWAPFILES = 2**MAX_SWAPFILES_SHIFT - SWP_DEVICE_NUM - SWP_MIGRATION_NUM
    - SWP_HWPOISON_NUM - SWP_PTE_MARKER_NUM (include/linux/swap.h). The value is
    (SWP_DEVICE_NUM, SWP_MIGRATION_NUM, SWP_HWPOISON_NUM, SWP_PTE_MARKER_NUM) (``swp_nums``),
    and for 5.19-6.1 a fifth number, SWP_SWAPIN_ERROR_NUM (``swapin_error_num``).
    """

    # Debian 12's 6.1: no DEVICE_PRIVATE, MIGRATION (3), MEMORY_FAILURE (1), PTE_MARKER (1)
    # and the swapin-error entry type of 5.19-6.1 (1; a PTE marker since 6.2): MAX_SWAPFILES
    # 26, as the real kernel answers (tests/fixtures/linux-6.1/recorded/max-swapfiles.json)
    DISTRO_6_1 = (0, 3, 1, 1, 1)

    # distro x86-64 6.12: DEVICE_PRIVATE (4), MIGRATION (3), MEMORY_FAILURE (1), PTE marker (1)
    DISTRO_6_12 = (4, 3, 1, 1)
    # 6.15+ / the RFC base: SWP_DEVICE_NUM became 3 ("use single SWP_DEVICE_EXCLUSIVE entry")
    DISTRO_6_18 = (3, 3, 1, 1)
    # every option off: only the PTE marker type is reserved
    MINIMAL = (0, 0, 0, 1)


    @property
    def swp_nums(self) -> tuple[int, int, int, int]:
        """(SWP_DEVICE_NUM, SWP_MIGRATION_NUM, SWP_HWPOISON_NUM, SWP_PTE_MARKER_NUM)."""
        device, migration, hwpoison, pte_marker = self.value[:4]
        return device, migration, hwpoison, pte_marker


    @property
    def swapin_error_num(self) -> int:
        """SWP_SWAPIN_ERROR_NUM: 1 in 5.19-6.1, gone (a PTE marker) since 6.2."""
        return self.value[4] if len(self.value) > 4 else 0


def max_swapfiles(config: KernelConfig) -> int:
    device, migration, hwpoison, pte_marker = config.swp_nums
    return ((1 << MAX_SWAPFILES_SHIFT) - device - migration - hwpoison - pte_marker
            - config.swapin_error_num)
