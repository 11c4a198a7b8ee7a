"""Aggregation of run records, the paper's Table 2 beside ours, figures, claim check, report."""
