"""Every model on random event sequences (Hypothesis): the bookkeeping stays consistent whatever
the order of swap-outs, swap-ins and frees, the page contents, the device sizes and the pool
limit, and once every page is gone only the static metadata is left."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ghostswap_cli.designs import DESIGN_NAMES, DESIGNS, resolve_params
from ghostswap_cli.designs.base import CACHE, DISK, ZERO, ZSWAP, LabConfig

PS = 4096

events = st.lists(
    st.tuples(st.sampled_from(("out", "out", "in", "free")), st.integers(0, 300),
              st.sampled_from((0, 1, 600, 2000, 3500, PS))),  # 0: a zero page; PS: incompressible
    max_size=200,
)


@settings(max_examples=150, deadline=None)
@given(evs=events, ghost=st.integers(2, 700), real=st.lists(st.integers(2, 700), min_size=1, max_size=3),
       pool=st.integers(0, 40), behind=st.integers(0, 1), fast=st.integers(0, 1))
def test_bookkeeping_is_consistent(evs, ghost: int, real: list[int], pool: int, behind: int,
                                   fast: int) -> None:
    params = resolve_params({"ghost-rfc.real_behind": behind, "swap-tiers.fast": fast,
                             "ghost-grow.max_clusters": 2})
    cfg = LabConfig(page_size=PS, ghost_slots=ghost, real_slots=tuple(real), pool_limit_pages=pool,
                    params=params)
    models = [DESIGNS[n](cfg) for n in DESIGN_NAMES]
    statics = [m.metadata()[0] for m in models]
    for op, vpn, clen in evs:
        for m in models:
            if op == "out":
                m.out(vpn, clen == 0, clen)
            elif op == "in":
                m.swap_in(vpn)
            else:
                m.free(vpn)
            m.sample()
    for m, static in zip(models, statics, strict=True):
        states = [rec[0] for rec in m.pages.values()]
        assert (m.n_zero, m.n_zswap, m.n_disk, m.n_cache) == tuple(
            states.count(s) for s in (ZERO, ZSWAP, DISK, CACHE)), m.name
        in_zswap = [v for v, rec in m.pages.items() if rec[0] == ZSWAP and v in m.lru]
        if m.writeback_failed:  # shrink_memcg_cb rotates an entry to the tail before it tries it
            assert sorted(m.lru) == sorted(in_zswap), m.name
        else:
            assert list(m.lru) == in_zswap, m.name
        assert len(m.lru) == m.n_zswap
        assert m.zswap_bytes == sum(m.zlen.values()) and set(m.zlen) == set(m.lru), m.name
        assert 0 <= m.disk_pinned() <= m.disk_slots(), m.name
        r = m.result()
        assert r["kept_resident"] == r["kept_resident_no_slot"] + r["kept_resident_rejected"]
        assert r["shrinker_stalls"] <= r["writeback_failed"]
        if m.name != "ghost-rfc" or not behind:
            assert r["writeback_failed"] == 0, m.name  # only the RFC's ghost before a real file
        if m.name != "ghost-grow":  # the one design whose static part grows
            assert m.metadata()[0] == static, m.name
        for vpn in list(m.pages):
            m.free(vpn)
        assert m.pages == {} and m.n_redirected == 0 and m.pool.pool_pages == 0, m.name
        assert m.zswap_bytes == 0 and m.zlen == {}, m.name
        assert m.metadata()[1] == 0, m.name  # no cluster in use, no descriptor, no redirection
        assert m.disk_slots() == 0, m.name
