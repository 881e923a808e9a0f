"""Stage 2, brain decoding: the 1D-ResNet18 and linear decoders and their out-of-fold soft labels
(``decoders``), voxel preprocessing and ordering, and temperature calibration.

Kept empty of imports: Snakemake's parse step must not load torch.
"""
