"""Stage 3, distillation: the student and the conventional network teacher (``student``), the KD
losses (``kd``), the teachers' soft targets and their controls (``teachers``) and SimCLR
pre-training (``simclr``).

Kept empty of imports: Snakemake's parse step must not load torch.
"""
