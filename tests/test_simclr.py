"""SimCLR: NT-Xent by hand, the pretraining set excludes held-out and evaluation images, and a
student starts from the backbone."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from brainteacher.configs import StudentConfig
from brainteacher.data import god
from brainteacher.data.splits import make_splits, read_split, write_split
from brainteacher.distill.simclr import SimCLRConfig, extra_renders, nt_xent, pretrain_simclr, unlabelled_images
from brainteacher.distill.student import run_distill
from brainteacher.nn.train import TrainConfig

CFG = SimCLRConfig(arch="tiny", image_size=16, steps=6, batch_size=16, extra_per_category=2, device="cpu")


def test_nt_xent_matches_a_hand_computation():
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z2 = torch.tensor([[1.0, 1.0], [-1.0, 1.0]])
    t = 0.5
    u = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1).numpy()
    sim = u @ u.T / t
    loss = 0.0
    for i, p in enumerate([2, 3, 0, 1]):
        others = [k for k in range(4) if k != i]
        loss += -(sim[i, p] - np.log(np.sum(np.exp(sim[i, others]))))
    assert nt_xent(z1, z2, t).item() == pytest.approx(loss / 4, rel=1e-6)
    # identical views, orthogonal rows: the loss is small; it can never be negative
    eye = torch.eye(4)
    assert 0 < nt_xent(eye, eye, 0.1).item() < 1e-3


@pytest.fixture()
def dataset(mini_dataset, tmp_path):
    """A private copy of the mini dataset (the test deletes images from it) and its split 0."""
    root = shutil.copytree(mini_dataset, tmp_path / "data")
    table = god.read_stimulus_tsv(root / god.TRAINING_TSV)
    split = make_splits(table.names, table.labels, 4, seed=0)[0]
    write_split(tmp_path / "split0.json", split)
    return root, tmp_path / "split0.json"


def test_pretraining_never_reads_held_out_or_evaluation_images(dataset, tmp_path):
    root, split_path = dataset
    split = read_split(split_path, god.read_stimulus_tsv(root / god.TRAINING_TSV).names)
    first = pretrain_simclr(root, split_path, tmp_path / "a", CFG)
    # Delete every held-out image file and the whole evaluation set: pretraining still runs and
    # gives the same backbone bit for bit, so it never opened them.
    layout = god.GODLayout.from_root(root)
    for path in god.image_paths(layout.image_dir, split.test):
        path.unlink()
    shutil.rmtree(root / "images" / "evaluation", ignore_errors=True)
    second = pretrain_simclr(root, split_path, tmp_path / "b", CFG)
    a, b = torch.load(tmp_path / "a" / "backbone.pt"), torch.load(tmp_path / "b" / "backbone.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    seen = set(np.load(tmp_path / "a" / "image_ids.npy").tolist())
    assert seen == set(split.train) and not seen & set(split.test)
    assert first["n_split_training_images"] == len(split.train) == second["n_split_training_images"]
    assert first["n_extra_renders"] == 2 * 6 and not any(k.startswith("fc.") for k in a)


def test_extra_renders_are_new_images_of_the_simulated_world(dataset):
    root, split_path = dataset
    images, ids, n_extra = unlabelled_images(root, split_path, 16, extra_per_category=3)
    assert n_extra == 18 and images.shape == (len(ids) + 18, 3, 16, 16) and images.dtype == np.uint8
    extra = images[len(ids) :]
    assert len({e.tobytes() for e in extra}) == 18 and not {e.tobytes() for e in extra} & {
        i.tobytes() for i in images[: len(ids)]
    }
    assert extra_renders(root, 0, 16, 0).shape == (0, 3, 16, 16)


def test_student_starts_from_the_simclr_backbone(dataset, tmp_path):
    root, split_path = dataset
    pretrain_simclr(root, split_path, tmp_path / "simclr", CFG)
    student = StudentConfig(
        arch="tiny",
        image_size=16,
        train=TrainConfig(steps=2, batch_size=16, log_every=1000),
        init="simclr",
        init_checkpoint=str(tmp_path / "simclr" / "backbone.pt"),
    )
    m = run_distill(root, split_path, "none", [], 0, tmp_path / "student", student)
    assert m["init"] == "simclr"
    with pytest.raises(ValueError, match="not a backbone of this student"):
        run_distill(root, split_path, "none", [], 0, tmp_path / "bad", replace(student, arch="resnet18", width=4))
    with pytest.raises(ValueError, match="needs a pretrain-simclr checkpoint"):
        StudentConfig(init="simclr")
