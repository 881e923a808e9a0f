"""Stage 1, the data: GOD's BData schema and layout (``god``), the simulator that writes a GOD-format
dataset (``simulate``), stimulus images (``images``), cross-validation splits (``splits``),
dataset inspection and the download of the real release.

Kept empty of imports so that Snakemake's parse step, which imports the top-level modules, never
loads torch.
"""
