"""The command line refuses bad option values before any work, in the one error format."""

from __future__ import annotations

import pytest

from brainteacher.cli import base, main


def _decode(*options: str) -> list[str]:
    return [
        "decode",
        "--data",
        "DATA",
        "--subject",
        "Subject1",
        "--roi",
        "V1",
        "--split",
        "all",
        "--out",
        "OUT",
        *options,
    ]


def _distill(*options: str) -> list[str]:
    return [
        "distill",
        "--root",
        "DATA",
        "--split",
        "S.json",
        "--teacher",
        "none",
        "--seed",
        "0",
        "--out",
        "OUT",
        *options,
    ]


@pytest.mark.parametrize(
    "argv, message",
    [
        (_decode("--folds", "-1"), "argument --folds: must be a whole number >= 2, got -1"),
        (_decode("--folds", "1"), "argument --folds: must be a whole number >= 2, got 1"),
        (_decode("--folds", "2.5"), "argument --folds: not a whole number: '2.5'"),
        (_decode("--decoder", "svm"), "argument --decoder: invalid choice: 'svm'"),
        (_decode("--n-voxels", "-5"), "argument --n-voxels: must be a whole number >= 0, got -5"),
        (_decode("--epochs", "0"), "argument --epochs: must be a whole number >= 1, got 0"),
        (_decode("--lr", "0"), "argument --lr: must be a finite number > 0, got 0"),
        (_decode("--lr", "nan"), "argument --lr: must be a finite number > 0, got nan"),
        (_decode("--weight-decay=-inf"), "argument --weight-decay: must be a finite number >= 0, got -inf"),
        (_decode("--seed", "-3"), "argument --seed: must be a whole number in 0..4294967295, got -3"),
        (_decode("--device", "gpu"), "argument --device: must be auto, cpu, cuda or cuda:N, got 'gpu'"),
        (_decode("--device", "cuda:99"), "argument --device: cuda:99 is not available on this machine"),
        (
            ["decode", "--data", "D", "--subject", "S", "--roi", "V9", "--split", "all", "--out", "O"],
            "argument --roi: invalid choice: 'V9'",
        ),
        (_distill("--alpha", "1.5"), "argument --alpha: must be a finite number in [0, 1], got 1.5"),
        (_distill("--temperature", "0"), "argument --temperature: must be a finite number > 0, got 0"),
        (_distill("--image-size", "0"), "argument --image-size: must be a whole number in 16..2048, got 0"),
        (_distill("--depth", "50"), "argument --depth: invalid choice: 50"),
        (["inspect-data", "--root", "DATA", "--rois", "V1", "XX"], "argument --rois: invalid choice: 'XX'"),
        (
            ["make-splits", "--root", "DATA", "--out", "OUT", "--n-splits", "1"],
            "argument --n-splits: must be a whole number >= 2, got 1",
        ),
        (
            ["cache-images", "--root", "DATA", "--out", "X.npy", "--size", "-1"],
            "argument --size: must be a whole number in 16..2048, got -1",
        ),
        (_distill("--width", "100000"), "argument --width: must be a whole number in 1..1024, got 100000"),
        (["decode", "--data", "DATA"], "the following arguments are required: --subject, --roi, --split, --out"),
        (["frobnicate"], "argument COMMAND: invalid choice: 'frobnicate'"),
        (["plot", "--tables", "T", "--out", "O", "--rois", "V1"], "the following arguments are required: --provenance"),
        (["aggregate", "--decode", "M.json", "--out", "T"], "the following arguments are required: --provenance"),
        (_decode("--split="), "argument --split: must not be empty"),
        (["inspect-data", "--root", " "], "argument --root/--data: must not be empty"),
        (["make-splits", "--root", "DATA", "--out="], "argument --out: must not be empty"),
    ],
)
def test_bad_option_values_are_refused_in_one_line(argv, message, capsys, monkeypatch):
    commands = {name: (h, a, lambda args: pytest.fail("ran")) for name, (h, a, _) in base.COMMANDS.items()}
    monkeypatch.setattr(base, "COMMANDS", commands)
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"brainteacher: error: {message}") and err.count("\n") == 1


def test_a_folder_where_the_output_file_goes_is_refused(handmade, tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    assert main(["-q", "inspect-data", "--root", str(handmade.root), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f"brainteacher: error: {out}: a folder is in the way of the output file\n"
    assert list(out.iterdir()) == [] and not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_more_splits_than_a_category_has_images_names_the_table(handmade, tmp_path, capsys):
    out = tmp_path / "splits"
    assert main(["-q", "make-splits", "--root", str(handmade.root), "--out", str(out), "--n-splits", "4"]) == 2
    tsv = handmade.root / "stimulus_ImageNetTraining.tsv"
    assert capsys.readouterr().err == (
        f"brainteacher: error: {tsv}: --n-splits 4: 4 folds need at least 4 samples per category; the smallest has 3\n"
    )
    assert not out.exists()
