"""asv benchmarks for mt2st (run with ``asv run --python=same``)."""
