"""Stage 4, the results: per-output tables (``tables``), paired comparisons and the statistics
(``comparisons``, ``stats``), the summary and its verdicts (``summary``), the column reference
(``columns``), the method texts and report captions (``methods``, ``captions``), and the
aggregation that writes them (``aggregate``).

Kept empty of imports: Snakemake's parse step must not load torch.
"""
