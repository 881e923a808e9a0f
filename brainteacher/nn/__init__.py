"""The networks and their training loop, shared by the decoders and the students: the one ResNet
builder over 1 to 3 spatial dimensions (``resnet``), the named architectures (``archs``), the
step-based training loop (``train``) and the optimiser (``optim``).

Kept empty of imports: Snakemake's parse step must not load torch.
"""
