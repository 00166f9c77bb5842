"""Real service ecosystems imported onto a T-DSES network: `tdses import programmableweb`."""
