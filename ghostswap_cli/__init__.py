"""ghostswap: swap areas, the ghost swapfile RFC and a real zswap store, simulated."""

__version__ = "0.1.0"
