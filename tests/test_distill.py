"""Students and the network teacher: they learn, repeat exactly on CPU, and keep test images apart."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from brainteacher.cli import main
from brainteacher.configs import StudentConfig
from brainteacher.data import god
from brainteacher.distill.network_teacher import run_network_teacher
from brainteacher.distill.student import run_distill
from brainteacher.nn.resnet import resnet18
from brainteacher.nn.train import TrainConfig

QUICK = StudentConfig(train=TrainConfig(steps=200, batch_size=32, lr=2e-3, weight_decay=5e-4, log_every=1000))
TINY = StudentConfig(width=4, image_size=16, train=TrainConfig(steps=8, batch_size=16, log_every=1000))


def test_student_learns_simulated_images_well_above_chance(quick_dataset, quick_splits, tmp_path):
    metrics = run_distill(quick_dataset, quick_splits[0], "none", [], 0, tmp_path / "student", QUICK)
    test = metrics["test"]
    # 20 categories: chance 0.05; it reaches about 0.2. The 1,000 evaluation images carry the tight
    # bound; 40 held-out images are 2.5 pp per image, so they only have to beat chance.
    assert metrics["evaluation"]["top1"] > 2 * test["top1_chance"] and metrics["n_evaluation"] == 1000
    assert test["top1"] > test["top1_chance"]
    assert metrics["train"]["top1"] > 0.9  # trained to fit its images
    assert metrics["n_test"] == 40 and metrics["n_train"] == 120
    assert metrics["steps"] == QUICK.train.steps


def test_outputs_checkpoint_and_provenance(mini_dataset, mini_splits, tmp_path):
    out = tmp_path / "student"
    metrics = run_distill(mini_dataset, mini_splits[1], "oracle", [mini_dataset / "ground_truth.json"], 3, out, TINY)
    saved = json.loads((out / "metrics.json").read_text())
    for key in ("top1", "top5", "nll", "ece"):
        assert key in saved["test"]
    assert set(saved["per_category_accuracy"]) == set(
        god.read_stimulus_tsv(mini_dataset / god.TRAINING_TSV).category_synsets
    )
    assert 0.05 < saved["teacher_stats"]["true_class_prob"] < 1
    assert saved["seed"] == 3 and saved["git_revision"] and saved["package_versions"]["torch"]
    assert saved["size_mb"] > 0 and saved["n_parameters"] > 0 and saved["device"] == "cpu"
    split = json.loads(mini_splits[1].read_text())
    assert set(np.load(out / "test_image_ids.npy")) == set(split["test"])
    # The checkpoint is a plain state_dict: it loads with weights_only and reproduces the predictions.
    model = resnet18(2, num_classes=metrics["n_categories"], width=TINY.width)
    model.load_state_dict(torch.load(out / "model.pt", weights_only=True))
    assert np.load(out / "test_logits.npy").shape == (metrics["n_test"], metrics["n_categories"])


def test_cpu_runs_repeat_exactly(mini_dataset, mini_splits, tmp_path):
    a = run_distill(mini_dataset, mini_splits[0], "none", [], 1, tmp_path / "a", TINY)
    b = run_distill(mini_dataset, mini_splits[0], "none", [], 1, tmp_path / "b", TINY)
    np.testing.assert_array_equal(
        np.load(tmp_path / "a" / "test_logits.npy"), np.load(tmp_path / "b" / "test_logits.npy")
    )
    assert a["test"] == b["test"]
    run_distill(mini_dataset, mini_splits[0], "none", [], 2, tmp_path / "c", TINY)
    assert not np.array_equal(np.load(tmp_path / "a" / "test_logits.npy"), np.load(tmp_path / "c" / "test_logits.npy"))


def test_network_teacher_is_out_of_fold_on_training_images_only(mini_dataset, mini_splits, tmp_path):
    net = tmp_path / "network"
    metrics = run_network_teacher(
        mini_dataset, mini_splits[0], net, StudentConfig(depth=34, width=4, image_size=16, train=TINY.train), n_folds=3
    )
    split = json.loads(mini_splits[0].read_text())
    assert set(np.load(net / "image_ids.npy")) == set(split["train"])
    assert sorted(np.unique(np.load(net / "folds.npy"))) == [0, 1, 2]
    assert metrics["out_of_fold"]["top1_chance"] == pytest.approx(1 / 6)
    # Its folder is a valid teacher for the same split, and refused for another split.
    run_distill(mini_dataset, mini_splits[0], "network", [net], 0, tmp_path / "student", TINY)
    with pytest.raises(Exception, match="test images"):
        run_distill(mini_dataset, mini_splits[1], "network", [net], 0, tmp_path / "leaky", TINY)


def test_cli_refuses_a_teacher_from_another_split_without_writing(mini_dataset, mini_splits, tmp_path, capsys):
    args = ["--root", str(mini_dataset), "--width", "4", "--image-size", "16", "--steps", "4", "--batch-size", "16"]
    assert (
        main(
            [
                "-q",
                "network-teacher",
                *args,
                "--split",
                str(mini_splits[0]),
                "--out",
                str(tmp_path / "net"),
                "--folds",
                "2",
                "--depth",
                "18",
            ]
        )
        == 0
    )
    out = tmp_path / "leaky"
    code = main(
        [
            "-q",
            "distill",
            *args,
            "--split",
            str(mini_splits[2]),
            "--teacher",
            "network",
            "--teacher-input",
            str(tmp_path / "net"),
            "--out",
            str(out),
        ]
    )
    assert code == 2
    assert "test images" in capsys.readouterr().err
    assert not out.exists()
    assert (
        main(["-q", "distill", *args, "--split", str(mini_splits[2]), "--teacher", "brain/S1/LOC", "--out", str(out)])
        == 2
    )
    assert "unknown teacher" in capsys.readouterr().err


def test_student_starts_from_a_local_torchvision_weights_file(mini_dataset, mini_splits, tmp_path):
    """A torchvision-format resnet18 state_dict (1000 classes) loads into the 6-class student; fc is skipped."""
    reference = resnet18(2, num_classes=1000, width=64)
    torch.save({"state_dict": reference.state_dict()}, tmp_path / "resnet18.pth")
    cfg = StudentConfig(
        width=64,
        image_size=16,
        weights=str(tmp_path / "resnet18.pth"),
        train=TrainConfig(steps=4, batch_size=32, lr=1e-12, warmup_epochs=1, log_every=1000),
    )
    run_distill(mini_dataset, mini_splits[0], "none", [], 0, tmp_path / "student", cfg)
    trained = torch.load(tmp_path / "student" / "model.pt", weights_only=True)
    # With a vanishing learning rate the convolution weights are still the file's.
    torch.testing.assert_close(trained["conv1.weight"], reference.state_dict()["conv1.weight"], atol=1e-6, rtol=0)
    assert trained["fc.weight"].shape == (6, 512)
    bad = StudentConfig(width=16, image_size=16, weights=str(tmp_path / "resnet18.pth"), train=cfg.train)
    with pytest.raises(ValueError, match="resnet18.pth: does not match the model"):
        run_distill(mini_dataset, mini_splits[0], "none", [], 0, tmp_path / "bad", bad)


# --- issue 14: tiny student, latency, GLD with the cross-fitted network teacher ---------------------

from dataclasses import replace  # noqa: E402

from brainteacher.distill.network_teacher import load_network_teacher  # noqa: E402
from brainteacher.nn.archs import TinyNet  # noqa: E402
from brainteacher.nn.resnet import count_parameters  # noqa: E402


def test_tiny_student_trains_and_records_size_and_latency(mini_dataset, mini_splits, tmp_path):
    cfg = replace(TINY, arch="tiny")
    m = run_distill(mini_dataset, mini_splits[0], "none", [], 0, tmp_path / "tiny", cfg)
    assert m["arch"] == "tiny" and m["n_parameters"] == count_parameters(TinyNet(num_classes=6))
    assert m["latency_threads"] == 1 and m["latency_ms_batch1"] > 0 and m["latency_ms_batch64"] > m["latency_ms_batch1"]
    assert 0 < m["size_mb"] < 0.1


@pytest.fixture(scope="module")
def network_dir(mini_dataset, mini_splits, tmp_path_factory):
    out = tmp_path_factory.mktemp("network") / "split0"
    run_network_teacher(mini_dataset, mini_splits[0], out, replace(TINY, depth=18, stem="small"), n_folds=2)
    return out


def test_network_teacher_keeps_its_fold_models(network_dir):
    record = json.loads((network_dir / "network.json").read_text())
    assert record["n_folds"] == 2 and len(record["stats"]) == 2
    assert all((network_dir / f"fold{k}.pt").is_file() for k in range(2))


def test_each_image_is_answered_by_the_fold_model_that_never_saw_it(network_dir, mini_dataset, mini_splits):
    from brainteacher.distill.classifier import load_split_images

    train, _, _ = load_split_images(mini_dataset, mini_splits[0], 16)
    stats = (np.full(3, 0.5), np.full(3, 0.25))
    teacher = load_network_teacher(network_dir, train.ids, stats, 2, torch.device("cpu"))
    folds = dict(zip(np.load(network_dir / "image_ids.npy").tolist(), np.load(network_dir / "folds.npy").tolist()))
    assert teacher.fold_of.tolist() == [folds[i] for i in train.ids]
    # Calling it on a batch gives, row by row, exactly the output of that row's own fold model.
    x = torch.randn(5, 3, 16, 16)
    idx = torch.arange(5)
    glob, local = teacher(x, idx)
    assert glob.shape == (5, 6) and local.shape == (5, 4, 6)
    for i in range(5):
        model = teacher.models[int(teacher.fold_of[i])]
        mean, sd = teacher.stats[int(teacher.fold_of[i])]
        xi = ((x[i : i + 1] * 0.25 + 0.5) - mean) / sd
        assert torch.allclose(glob[i], model(xi)[0], atol=1e-5)


def test_gld_student_with_the_network_teacher_runs(network_dir, mini_dataset, mini_splits, tmp_path):
    cfg = replace(TINY, stem="small", loss="gld")
    m = run_distill(mini_dataset, mini_splits[0], "network", [network_dir], 0, tmp_path / "gld", cfg)
    assert m["loss"] == "gld" and np.isfinite(m["train"]["final_loss"])
    tiny = run_distill(
        mini_dataset, mini_splits[0], "network", [network_dir], 0, tmp_path / "gld-tiny", replace(cfg, arch="tiny")
    )
    assert tiny["arch"] == "tiny" and np.isfinite(tiny["train"]["final_loss"])


def test_gld_local_terms_with_a_brain_teacher_are_refused(mini_dataset, mini_splits, tmp_path, capsys):
    from brainteacher.decode.decoders import DecoderConfig, run_decode

    dec = tmp_path / "dec"
    run_decode(
        mini_dataset,
        "Subject1",
        "V1",
        mini_splits[0],
        dec,
        DecoderConfig(decoder="linear", n_folds=2, train=TrainConfig(epochs=2)),
    )
    args = [
        "distill",
        "--root",
        str(mini_dataset),
        "--split",
        str(mini_splits[0]),
        "--teacher",
        "brain/Subject1/V1",
        "--teacher-input",
        str(dec),
        "--seed",
        "0",
        "--width",
        "4",
        "--image-size",
        "16",
        "--steps",
        "4",
        "--loss",
        "gld",
    ]
    assert main([*args, "--out", str(tmp_path / "refused")]) == 2
    assert (
        "need a network teacher with feature maps; teacher 'brain/Subject1/V1' has global logits only"
        in capsys.readouterr().err
    )
    assert not (tmp_path / "refused").exists()
    # Only the global term, chosen explicitly, is allowed.
    assert main([*args, "--gld-terms", "global", "--out", str(tmp_path / "global")]) == 0
    assert json.loads((tmp_path / "global" / "metrics.json").read_text())["loss"] == "gld"
