"""The CUDA path, skipped without a GPU: cohorts grouped on the card, bf16 autocast, data resident.

CI has no GPU; a session with a lent one runs these through ``bench/gpu_check.sh``. Each check
compares the card with the CPU's own numbers, at tolerances for bf16 (about 3 significant digits).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from brainteacher.configs import DecoderConfig, StudentConfig
from brainteacher.decode.decoders import fit_folds, fold_layout
from brainteacher.distill.classifier import to_device
from brainteacher.distill.student import cohort_layout, train_cohort
from brainteacher.nn.train import TrainConfig, predict_logits

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

CUDA, CPU = torch.device("cuda"), torch.device("cpu")


def test_decoder_folds_train_grouped_on_cuda_as_on_the_cpu(decoder_folds):
    """The default layout on the card is one grouped resnet1d; its held-out predictions are the
    CPU's separate folds' on at least 90% of rows (bf16 and other kernels, 20 steps)."""
    cfg = DecoderConfig(n_voxels=0, width=4, train=TrainConfig(epochs=4, batch_size=8, log_every=1000))
    assert fold_layout(cfg, CUDA, decoder_folds) == "grouped"
    on_card = np.concatenate(fit_folds(decoder_folds, 4, cfg, CUDA))
    on_cpu = np.concatenate(fit_folds(decoder_folds, 4, dataclasses.replace(cfg, device="cpu"), CPU))
    assert on_card.shape == on_cpu.shape == (60, 2, 4) and np.isfinite(on_card).all()
    assert (on_card.sum(1).argmax(1) == on_cpu.sum(1).argmax(1)).mean() >= 0.9


def test_student_cohort_trains_grouped_on_cuda_as_on_the_cpu(student_images):
    """Three students (two sharing a seed) as one grouped network on the card: finite losses, and
    each member's predictions on its training images are the CPU cohort's on at least 75% of them."""
    rng, train = np.random.default_rng(0), student_images
    cfg = StudentConfig(width=4, image_size=16, train=TrainConfig(steps=6, batch_size=8, log_every=1000))
    assert cohort_layout(cfg, CUDA) == "grouped"
    teacher = rng.normal(size=(24, 3)).astype(np.float32)
    predictions = []
    for device in (CUDA, CPU):
        cohort, stats, history = train_cohort(
            train, 3, [None, teacher, None], [0, 0, 1], cfg, device, grouped=device.type == "cuda"
        )
        assert all(np.isfinite(h).all() for h in history)
        predictions.append(predict_logits(cohort, to_device(train.images, device, *stats)).argmax(-1))
    assert predictions[0].shape == predictions[1].shape == (3, 24)
    assert (predictions[0] == predictions[1]).mean(axis=1).min() >= 0.75
