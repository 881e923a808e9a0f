"""Cohorts: K students trained in one process are the students their solo runs give, and a
decoder's inner folds trained together are the models each fold gives alone.

Separate members (the CPU layout) must equal their solo runs to the bit; a grouped network
computes the same functions with other kernels, so it must agree within float rounding before
training and stay close over a few steps.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from brainteacher.cli import main
from brainteacher.configs import DecoderConfig, StudentConfig
from brainteacher.decode.decoders import Fold, fit_folds, fold_layout
from brainteacher.distill.classifier import train_classifier
from brainteacher.distill.student import Member, cohort_layout, run_cohort, run_distill, train_cohort
from brainteacher.nn.resnet import MemberLinear, member_state, resnet18, stack_members
from brainteacher.nn.train import MemberList, TrainConfig, fit_cohort, fork_global_stream, predict_logits

CFG = StudentConfig(width=4, image_size=16, device="cpu", train=TrainConfig(steps=6, batch_size=8, log_every=1000))


def _teacher(n: int = 24, n_classes: int = 3) -> np.ndarray:
    return np.random.default_rng(1).normal(size=(n, n_classes)).astype(np.float32)


def _solo_states(train, targets, seeds, cfg):
    states = []
    for target, seed in zip(targets, seeds):
        model, _, _ = train_classifier(train, 3, target, cfg, seed, torch.device("cpu"))
        states.append({k: v.detach().clone() for k, v in model.state_dict().items()})
    return states


def _cohort_states(cohort) -> list[dict[str, torch.Tensor]]:
    if isinstance(cohort, MemberList):
        return [m.state_dict() for m in cohort]
    return [member_state(cohort, k) for k in range(cohort.members)]


# --- the grouped ResNet ---------------------------------------------------------------------------


@pytest.mark.parametrize("spatial_dims, shape", [(1, (40,)), (2, (16, 16)), (3, (8, 8, 8))])
def test_grouped_resnet_is_its_members_side_by_side(spatial_dims, shape):
    solo = []
    for seed in (0, 1, 2):
        torch.manual_seed(seed)
        solo.append(resnet18(spatial_dims, in_channels=2, num_classes=5, width=4).eval())
    cohort = resnet18(spatial_dims, in_channels=2, num_classes=5, width=4, members=3).eval()
    stack_members(cohort, solo)
    # Unstacked, each member's state_dict is its solo network's: same keys, shapes and values.
    for k, model in enumerate(solo):
        state = member_state(cohort, k)
        assert state.keys() == model.state_dict().keys()
        for key, value in model.state_dict().items():
            assert torch.equal(state[key], value), key
    x = [torch.randn(4, 2, *shape, generator=torch.Generator().manual_seed(k)) for k in range(3)]
    with torch.no_grad():
        out = cohort(torch.cat(x, dim=1))
        assert out.shape == (4, 3, 5)
        for k, model in enumerate(solo):
            torch.testing.assert_close(out[:, k], model(x[k]), rtol=1e-4, atol=1e-5)


def test_member_linear_is_one_linear_per_member():
    layer = MemberLinear(6, 4, members=3)
    x = torch.randn(5, 3 * 6)
    out = layer(x)
    for k in range(3):
        linear = nn.Linear(6, 4)
        linear.weight.data, linear.bias.data = layer.weight[4 * k : 4 * (k + 1)], layer.bias[4 * k : 4 * (k + 1)]
        torch.testing.assert_close(out[:, k], linear(x[:, 6 * k : 6 * (k + 1)]))


def test_stacking_refuses_the_wrong_number_of_members():
    cohort = resnet18(2, num_classes=3, width=4, members=2)
    with pytest.raises(ValueError, match="2 members, got 3"):
        stack_members(cohort, [resnet18(2, num_classes=3, width=4) for _ in range(3)])
    with pytest.raises(IndexError):
        member_state(cohort, 2)


# --- training: each member is its solo run ----------------------------------------------------------


def test_separate_members_equal_their_solo_runs_to_the_bit(student_images):
    """Three students (CE and KD, two sharing a seed) trained as one cohort on the CPU."""
    train, teacher = student_images, _teacher()
    targets, seeds = [None, teacher, None], [0, 0, 1]
    cohort, _, history = train_cohort(train, 3, targets, seeds, CFG, torch.device("cpu"), grouped=False)
    solo = _solo_states(train, targets, seeds, CFG)
    for k, (got, want) in enumerate(zip(_cohort_states(cohort), solo)):
        for key in want:
            assert torch.equal(got[key], want[key]), f"member {k}: {key}"
    assert len(history) == 3 and all(len(h) == len(history[0]) for h in history)
    # It trained, and the KD member is not the CE member of the same seed.
    assert not torch.equal(solo[0]["fc.weight"], solo[1]["fc.weight"])


def test_grouped_members_agree_with_their_solo_runs_within_rounding(student_images):
    """The grouped network sums in another order, so exact equality is not expected. Adam turns a
    rounding-level gradient of a near-zero element into a full step, so a few elements move by up
    to one step; the rest agree closely. Tolerances: every tensor within 2% of its norm after 3
    steps, and the predictions within 0.1 logits."""
    train, teacher = student_images, _teacher()
    cfg = dataclasses.replace(CFG, train=dataclasses.replace(CFG.train, steps=3))
    targets, seeds = [None, teacher, None], [0, 0, 1]
    cohort, stats, _ = train_cohort(train, 3, targets, seeds, cfg, torch.device("cpu"), grouped=True)
    solo = _solo_states(train, targets, seeds, cfg)
    for got, want in zip(_cohort_states(cohort), solo):
        for key, value in want.items():
            if value.dim():
                rel = (got[key].float() - value.float()).norm() / value.float().norm().clamp_min(1e-12)
                assert rel < 0.02, key
    from brainteacher.distill.classifier import to_device

    x = to_device(train.images, torch.device("cpu"), *stats)
    logits = predict_logits(cohort, x)
    for k, state in enumerate(solo):
        model = resnet18(2, num_classes=3, width=4)
        model.load_state_dict(state)
        np.testing.assert_allclose(logits[k], predict_logits(model, x), atol=0.1)


def test_members_that_share_a_seed_share_their_batches(student_images):
    """Two identical members (same seed, same teacher) stay identical, in both layouts; a member of
    another seed does not."""
    train = student_images
    for grouped in (False, True):
        cohort, _, history = train_cohort(train, 3, [None] * 3, [5, 5, 6], CFG, torch.device("cpu"), grouped=grouped)
        states = _cohort_states(cohort)
        assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
        assert history[0] == history[1] and history[0] != history[2]


def test_fit_cohort_needs_one_generator_per_member():
    with pytest.raises(ValueError, match="2 loss functions but 1 generators"):
        fit_cohort(
            MemberList([nn.Linear(2, 2), nn.Linear(2, 2)]),
            torch.zeros(4, 2),
            [lambda lg, i: lg.sum()] * 2,
            CFG.train,
            [torch.Generator()],
        )


def test_layout_by_device_and_recipe():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert cohort_layout(CFG, cpu) == "separate" and cohort_layout(CFG, cuda) == "grouped"
    assert cohort_layout(dataclasses.replace(CFG, cohort_layout="grouped"), cpu) == "grouped"
    assert cohort_layout(dataclasses.replace(CFG, arch="tiny"), cuda) == "separate"  # no grouped tiny CNN
    gld = dataclasses.replace(CFG, loss="gld")
    assert cohort_layout(gld, cpu) == "sequential"  # its local terms query the network teacher per member


def test_fit_cohort_refuses_input_sets_it_cannot_step_together():
    members = MemberList([nn.Linear(2, 2), nn.Linear(2, 2)])
    loss = [lambda lg, i: lg.sum()] * 2
    shared = torch.Generator()
    with pytest.raises(ValueError, match="one size, got \\[4, 5\\]"):
        fit_cohort(members, [torch.zeros(4, 2), torch.zeros(5, 2)], loss, CFG.train, [shared, torch.Generator()])
    with pytest.raises(ValueError, match="share a generator must share their inputs"):
        fit_cohort(members, [torch.zeros(4, 2), torch.zeros(4, 2)], loss, CFG.train, [shared, shared])


# --- decoder cohorts: a decoder's inner folds -----------------------------------------------------

DECODER = DecoderConfig(n_voxels=0, width=4, device="cpu", train=TrainConfig(epochs=4, batch_size=8, log_every=1000))


@pytest.mark.parametrize("decoder", ["resnet1d", "linear"])
def test_separate_decoder_folds_equal_their_solo_runs_to_the_bit(decoder, decoder_folds):
    """Each fold's held-out logits (the resnet1d's two logit terms, its head dropped for half the
    samples from the fold's own stream) are those of the fold trained alone."""
    cfg = dataclasses.replace(DECODER, decoder=decoder, cohort_layout="separate")
    folds = decoder_folds
    assert fold_layout(cfg, torch.device("cpu"), folds) == "separate"
    together = fit_folds(folds, 4, cfg, torch.device("cpu"))
    for fold, got in zip(folds, together):
        (alone,) = fit_folds([fold], 4, cfg, torch.device("cpu"))
        assert np.array_equal(got, alone)
    assert together[0].shape == ((20, 2, 4) if decoder == "resnet1d" else (20, 4))


def test_a_fold_trained_alone_draws_its_head_dropout_from_the_global_stream():
    """The private stream continues the global one, so the decoders trained before cohorts (head
    dropout from the global stream) are the ones trained now."""
    torch.manual_seed(3)
    stream = fork_global_stream()
    assert torch.equal(torch.rand(8, 1, generator=stream), torch.rand(8, 1))


def test_grouped_decoder_folds_agree_with_their_solo_runs_within_rounding(decoder_folds):
    """One grouped resnet1d for all folds: the same initial weights, batches, input noise and head
    dropout as each fold alone, other kernels. Tolerances: held-out logits within 0.05 after 4
    epochs (20 steps), and every held-out prediction the same."""
    cfg = dataclasses.replace(DECODER, cohort_layout="grouped")
    folds = decoder_folds
    assert fold_layout(cfg, torch.device("cpu"), folds) == "grouped"
    together = fit_folds(folds, 4, cfg, torch.device("cpu"))
    for fold, got in zip(folds, together):
        (alone,) = fit_folds([fold], 4, cfg, torch.device("cpu"))
        np.testing.assert_allclose(got, alone, atol=0.05)
        assert np.array_equal(got.sum(1).argmax(1), alone.sum(1).argmax(1))


def test_decoder_folds_layout_by_device_decoder_and_fold_size(decoder_folds):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    folds = decoder_folds
    assert fold_layout(DECODER, cpu, folds) == "separate" and fold_layout(DECODER, cuda, folds) == "grouped"
    assert fold_layout(dataclasses.replace(DECODER, decoder="linear"), cuda, folds) == "separate"
    uneven = [*folds[:2], Fold(folds[2].X_tr[:-1], folds[2].y_tr[:-1], folds[2].X_te, 1002)]
    assert fold_layout(DECODER, cuda, uneven) == "sequential"  # their epochs have different lengths
    assert len(fit_folds(uneven, 4, DECODER, cpu)) == 3


# --- whole runs -------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [0, 2])
def test_a_cohort_run_writes_the_folders_its_solo_runs_write(mini_dataset, mini_splits, tmp_path, chunk):
    """Three students in one run (chunk 0: all at once; 2: two, then one), each folder as its
    solo run writes it."""
    gt = (str(mini_dataset / "ground_truth.json"),)
    members = [
        Member("none", (), 0, str(tmp_path / "cohort" / "none0")),
        Member("oracle", gt, 0, str(tmp_path / "cohort" / "oracle0")),
        Member("none", (), 1, str(tmp_path / "cohort" / "none1")),
    ]
    cfg = dataclasses.replace(CFG, train=dataclasses.replace(CFG.train, steps=20), cohort_chunk=chunk)
    written = run_cohort(mini_dataset, mini_splits[0], members, cfg)
    for member, metrics in zip(members, written):
        solo = run_distill(
            mini_dataset, mini_splits[0], member.teacher, list(member.teacher_inputs), member.seed,
            tmp_path / "solo" / member.out.rsplit("/", 1)[1], cfg,
        )  # fmt: skip
        for name in ("eval_logits.npy", "test_logits.npy", "test_image_ids.npy"):
            a = np.load(f"{member.out}/{name}")
            b = np.load(tmp_path / "solo" / member.out.rsplit("/", 1)[1] / name)
            np.testing.assert_array_equal(a, b)
        assert metrics["evaluation"] == solo["evaluation"] and metrics["teacher"] == solo["teacher"]
        assert solo["cohort_size"] == 1
        assert torch.equal(
            torch.load(f"{member.out}/model.pt", weights_only=True)["fc.weight"],
            torch.load(tmp_path / "solo" / member.out.rsplit("/", 1)[1] / "model.pt", weights_only=True)["fc.weight"],
        )
    assert [m["cohort_size"] for m in written] == ([3, 3, 3] if chunk == 0 else [2, 2, 1])


@pytest.mark.parametrize(
    "member, message",
    [
        (["none", "0"], "TEACHER SEED OUT"),
        (["none", "x", "out"], "TEACHER SEED OUT"),
        (["none", "99999999999", "out"], "TEACHER SEED OUT"),
    ],
)
def test_cli_refuses_a_malformed_member(tmp_path, capsys, member, message):
    code = main(["-q", "distill-cohort", "--root", str(tmp_path), "--split", "s.json", "--member", *member])
    assert code == 2 and message in capsys.readouterr().err


def test_cli_refuses_two_members_with_one_folder(tmp_path, capsys):
    out = str(tmp_path / "same")
    code = main(
        ["-q", "distill-cohort", "--root", str(tmp_path), "--split", "s.json"]
        + ["--member", "none", "0", out, "--member", "none", "1", out]
    )
    assert code == 2 and "share an output folder" in capsys.readouterr().err
    assert not (tmp_path / "same").exists()
