"""Bad input, fuzzed: every damaged dataset or bad option ends in exit 2 naming the file, or loads.

A tiny GOD-format dataset (2 subjects, the second in two session files; 2 categories x 3 images;
V1, LOC and voxels in no ROI; repeats and test rows) is written once. Each example copies it,
applies one mutation, and runs ``inspect-data`` and ``decode`` through ``brainteacher.cli.main``
(``decode`` with its training replaced by the data loading it starts with; no model is trained).
Either a command succeeds with a complete output, or it exits 2 with one line
``brainteacher: error: <file or option>: <problem>``, leaving no output file; never a traceback.
Where the outcome is certain (a truncated subject file must be refused, a duplicated trial must
load) the mutation says so and the test checks it.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from brainteacher.analysis.columns import INSPECTION_COLUMNS
from brainteacher.cli import main
from brainteacher.data import god
from brainteacher.data.splits import read_split
from brainteacher.decode import decoders
from tests.conftest import REAL_NAMES

pytestmark = pytest.mark.slow  # hundreds of mutated datasets, each read by the CLI

MAX_EXAMPLES = int(os.environ.get("BRAINTEACHER_FUZZ_EXAMPLES", 300))  # about 20 s on one CPU core
TRIED: Counter = Counter()  # mutations tried, by kind, reported at the end of the test

TSV = god.TRAINING_TSV
V1, LOC = np.arange(0, 4), np.arange(4, 7)  # voxel columns; 7..9 are in no ROI
N_VOXELS = 10
KEYS = np.array([god.stimulus_key_from_name(n) for n in REAL_NAMES])
TEST_KEY = 1443537022563  # a GOD test image: the rows showing it are DataType 2
FILES = {"Subject1.h5": (2, 1), "Subject2_a.h5": (1, 2), "Subject2_b.h5": (1, 3)}  # repeats, seed


def _decode_argv(root: Path, out: Path) -> list[str]:
    """The decode command on every image of Subject1's V1 (no split file)."""
    return ["decode", "--data", str(root), "--subject", "Subject1", "--roi", "V1", "--split", "all", "--out", str(out)]


def _subject_rows(repeats: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n_rows,) DataType and stimulus keys: every image ``repeats`` times, shuffled, then one test row."""
    keys = np.random.default_rng(seed).permutation(np.repeat(KEYS, repeats))
    return np.r_[np.ones(len(keys)), 2], np.r_[keys, TEST_KEY]


def _write_subject(path: Path, repeats: int, seed: int) -> None:
    datatype, keys = _subject_rows(repeats, seed)
    n = len(keys)
    god.write_bdata(
        path,
        np.random.default_rng(seed).normal(size=(n, N_VOXELS)),
        {"V1": np.isin(np.arange(N_VOXELS), V1), "LOC": np.isin(np.arange(N_VOXELS), LOC)},
        np.arange(N_VOXELS * 3, dtype=float).reshape(N_VOXELS, 3),
        datatype=datatype,
        runs=1 + np.arange(n) // 5,
        blocks=1 + np.arange(n) % 5,
        stimulus_id=keys / 1e6,
    )
    # bdpy stores the source of every file on the call stack in /header; drop it to keep copies small.
    with h5py.File(path, "r") as src, h5py.File(path.with_suffix(".tmp"), "w") as dst:
        for member in ("dataset", "metadata"):
            src.copy(member, dst)
    path.with_suffix(".tmp").replace(path)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fuzz") / "data"
    (root / god.TRAINING_IMAGE_DIR).mkdir(parents=True)
    god.write_stimulus_tsv(root / TSV, KEYS, [1, 1, 1, 2, 2, 2], range(1, 7))
    for i, name in enumerate(REAL_NAMES):
        Image.new("RGB", (12, 10), (40 * i, 100, 200 - 30 * i)).save(root / god.TRAINING_IMAGE_DIR / f"{name}.JPEG")
    for name, (repeats, seed) in FILES.items():
        _write_subject(root / name, repeats, seed)
    return root


# --- mutations ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutation:
    """One way to damage the dataset. ``refused``: True if inspect-data must exit 2, False if it must
    succeed, None if either is right. ``argv``: a command of its own (bad option values) instead
    of the usual inspect-data and decode."""

    kind: str
    detail: str
    apply: Callable[[Path], None] = field(repr=False, default=lambda root: None)
    refused: bool | None = None
    argv: Callable[[Path, Path], list[str]] | None = field(repr=False, default=None)
    names: str = ""  # what a refusal may name instead of a dataset file: an option's file value


def _edit_lines(path: Path, edit: Callable[[list[str]], list[str]]) -> None:
    path.write_text("".join(edit(path.read_text().splitlines(keepends=True))))


def _edit_h5(path: Path, edit: Callable[[h5py.File], None]) -> None:
    with h5py.File(path, "r+") as f:
        edit(f)


def _replace(f: h5py.File, member: str, values: np.ndarray) -> None:
    del f[member]
    f[member] = values


def _column(f: h5py.File, key: str) -> int:
    keys = [k.decode() for k in f["metadata/key"][:]]
    return int(np.flatnonzero(f["metadata/value"][keys.index(key)] == 1)[0])


def _row_keys(name: str) -> np.ndarray:
    """(n_rows,) the stimulus key of each row of one subject file as written."""
    return _subject_rows(*FILES[name])[1]


def _n_rows(name: str) -> int:
    return len(_row_keys(name))


def _is_training(name: str, row: int) -> bool:
    return row < _n_rows(name) - 1  # the last row of every file is the test row


@st.composite
def _dropped_tsv_rows(draw) -> Mutation:
    rows = draw(st.sets(st.integers(0, 5), min_size=1))
    # Every dropped image still has fMRI trials, which then name an image the table lacks.
    return Mutation(
        "dropped TSV rows",
        f"rows {sorted(rows)}",
        lambda root: _edit_lines(root / TSV, lambda ls: [line for i, line in enumerate(ls) if i not in rows]),
        True,
    )


@st.composite
def _duplicated_tsv_row(draw) -> Mutation:
    row, at = draw(st.integers(0, 5)), draw(st.integers(0, 6))
    return Mutation(
        "duplicated TSV row",
        f"row {row} again at {at}",
        lambda root: _edit_lines(root / TSV, lambda ls: ls[:at] + [ls[row]] + ls[at:]),
        True,
    )


@st.composite
def _corrupted_tsv_field(draw) -> Mutation:
    row, col = draw(st.integers(0, 5)), draw(st.integers(0, 3))
    text = draw(st.text(alphabet="0123456789._-+neEinfa xé", max_size=16))

    def apply(root: Path) -> None:
        def edit(lines: list[str]) -> list[str]:
            fields = lines[row].rstrip("\n").split("\t")
            fields[col] = text
            return lines[:row] + ["\t".join(fields) + "\n"] + lines[row + 1 :]

        _edit_lines(root / TSV, edit)

    return Mutation("corrupted TSV field", f"row {row} column {col} = {text!r}", apply)


@st.composite
def _corrupted_fmri_id(draw) -> Mutation:
    name = draw(st.sampled_from(tuple(FILES)))
    row = draw(st.integers(0, _n_rows(name) - 1))
    value = draw(st.sampled_from([*(KEYS / 1e6), TEST_KEY / 1e6]) | st.floats())
    apply = lambda root: _edit_h5(
        root / name, lambda f: f["dataset"].__setitem__((row, _column(f, "stimulus_id")), value)
    )
    with np.errstate(invalid="ignore", over="ignore"):
        key = god.stimulus_keys_from_ids(np.array([value]))[0] if np.isfinite(value) else -1
    # A training row refers to an image by its ID: it must still name one of the table's images.
    refused = _is_training(name, row) and key not in KEYS
    return Mutation("corrupted fMRI stimulus_id", f"{name} row {row} = {value!r}", apply, refused)


@st.composite
def _non_finite_voxel(draw) -> Mutation:
    name = draw(st.sampled_from(tuple(FILES)))
    row, col = draw(st.integers(0, _n_rows(name) - 1)), draw(st.integers(0, N_VOXELS - 1))
    value = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    apply = lambda root: _edit_h5(root / name, lambda f: f["dataset"].__setitem__((row, col), value))
    # inspect-data loads every ROI: a bad value counts only on a training row, in an ROI voxel.
    refused = _is_training(name, row) and col in (*V1, *LOC)
    return Mutation("NaN/Inf voxel", f"{name} row {row} voxel {col} = {value}", apply, refused)


@st.composite
def _fmri_rows(draw) -> Mutation:
    name = draw(st.sampled_from(tuple(FILES)))
    n = _n_rows(name)
    rows = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=2 * n))
    # Rows may be dropped, repeated or reordered. Subject2's other session has every image, so
    # only Subject1 can lose an image's last trial, which is refused.
    kept = {_row_keys(name)[r] for r in rows if _is_training(name, r)}
    refused = name == "Subject1.h5" and kept != set(KEYS)
    apply = lambda root: _edit_h5(root / name, lambda f: _replace(f, "dataset", f["dataset"][:][rows]))
    return Mutation("dropped, duplicated or reordered fMRI rows", f"{name} rows {rows}", apply, refused)


def _truncate(path: Path, fraction: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


ALL_FILES = [*FILES, TSV, *(str(god.TRAINING_IMAGE_DIR / f"{n}.JPEG") for n in REAL_NAMES)]


@st.composite
def _truncated_file(draw) -> Mutation:
    name = draw(st.sampled_from(ALL_FILES))
    fraction = draw(st.floats(0, 0.999))
    refused = True if name.endswith(".h5") else None
    return Mutation(
        "truncated file", f"{name} to {fraction:.3f}", lambda root: _truncate(root / name, fraction), refused
    )


_SHAPE_DAMAGE = {
    "dataset loses its last column": lambda f: _replace(f, "dataset", f["dataset"][:, :-1]),
    "dataset gains a column": lambda f: _replace(f, "dataset", np.c_[f["dataset"][:], np.ones(len(f["dataset"]))]),
    "dataset is flattened": lambda f: _replace(f, "dataset", f["dataset"][:].ravel()),
    "dataset is transposed": lambda f: _replace(f, "dataset", f["dataset"][:].T),
    "dataset has no rows": lambda f: _replace(f, "dataset", f["dataset"][:0]),
    "metadata value loses a column": lambda f: _replace(f, "metadata/value", f["metadata/value"][:, :-1]),
    "metadata value loses a key": lambda f: _replace(f, "metadata/value", f["metadata/value"][:-1]),
    "metadata keys lose one": lambda f: _replace(f, "metadata/key", f["metadata/key"][:-1]),
    "metadata descriptions lose one": lambda f: _replace(f, "metadata/description", f["metadata/description"][:-1]),
}


@st.composite
def _wrong_shape(draw) -> Mutation:
    name, damage = draw(st.sampled_from(tuple(FILES))), draw(st.sampled_from(sorted(_SHAPE_DAMAGE)))
    return Mutation("wrong shape", f"{name}: {damage}", lambda root: _edit_h5(root / name, _SHAPE_DAMAGE[damage]), True)


_DTYPES = {"text": "S8", "complex": np.complex128, "int": np.int64, "bool": bool, "float32": np.float32}


@st.composite
def _wrong_dtype(draw) -> Mutation:
    name = draw(st.sampled_from(tuple(FILES)))
    member = draw(st.sampled_from(["dataset", "metadata/value", "metadata/key"]))
    dtype = draw(st.sampled_from(sorted(_DTYPES)))

    def recast(f: h5py.File) -> None:
        values = f[member][:]
        with np.errstate(invalid="ignore"):  # NaN (voxels off an ROI's columns) cast to int is part of the damage
            _replace(
                f,
                member,
                values.astype(_DTYPES[dtype])
                if member != "metadata/key"
                else np.arange(len(values)).astype(_DTYPES[dtype]),
            )

    # Text or complex numbers are refused by name; other numbers may still be a valid file.
    refused = True if dtype in ("text", "complex") or member == "metadata/key" else None
    return Mutation("wrong dtype", f"{name}: {member} as {dtype}", lambda root: _edit_h5(root / name, recast), refused)


@st.composite
def _removed_member(draw) -> Mutation:
    name = draw(st.sampled_from(tuple(FILES)))
    member = draw(st.sampled_from(["dataset", "metadata", "metadata/key", "metadata/description", "metadata/value"]))
    return Mutation(
        "removed HDF5 member",
        f"{name}: /{member}",
        lambda root: _edit_h5(root / name, lambda f: f.__delitem__(member)),
        True,
    )


@st.composite
def _not_hdf5(draw) -> Mutation:
    name, data = draw(st.sampled_from(tuple(FILES))), draw(st.binary(max_size=64))
    return Mutation(
        "subject file that is not HDF5", f"{name} = {data!r}", lambda root: (root / name).write_bytes(data), True
    )


@st.composite
def _missing_images(draw) -> Mutation:
    names = draw(st.sets(st.sampled_from(REAL_NAMES), min_size=1))
    apply = lambda root: [(root / god.TRAINING_IMAGE_DIR / f"{n}.JPEG").unlink() for n in names]
    return Mutation("missing images", ", ".join(sorted(names)), apply, True)


@st.composite
def _broken_jpeg(draw) -> Mutation:
    name = draw(st.sampled_from(REAL_NAMES))
    offset, data = draw(st.integers(0, 600)), draw(st.binary(min_size=1, max_size=64))

    def apply(root: Path) -> None:
        path = root / god.TRAINING_IMAGE_DIR / f"{name}.JPEG"
        old = path.read_bytes()
        path.write_bytes(old[:offset] + data + old[offset + len(data) :])

    # Bytes inside the compressed data often decode to other pixels without an error: either is right.
    return Mutation("broken JPEG", f"{name}: {data!r} at byte {offset}", apply)


def _numeric_region(path: Path, member: str) -> tuple[int, int]:
    """(offset, length) in the file of one numeric member's stored values."""
    with h5py.File(path, "r") as f:
        return f[member].id.get_offset(), f[member].id.get_storage_size()


@st.composite
def _overwritten_bytes(draw) -> Mutation:
    name = draw(st.sampled_from([*FILES, TSV]))
    member = draw(st.sampled_from(["dataset", "metadata/value"]))
    offset, data = draw(st.integers(0, 20_000)), draw(st.binary(min_size=1, max_size=32))

    def apply(root: Path) -> None:
        path = root / name
        # In a subject file only the stored numbers are overwritten: libhdf5 can loop forever on
        # some corrupted structures (a flipped bit in the global heap of the metadata keys), which
        # no in-process check can interrupt (see README, Data integrity). The TSV is fair game.
        start, length = (0, path.stat().st_size) if name == TSV else _numeric_region(path, member)
        at = start + offset % length
        chunk, old = data[: start + length - at], path.read_bytes()  # the chunk stays inside the region
        path.write_bytes(old[:at] + chunk + old[at + len(chunk) :])

    # The numbers may turn NaN, Inf, fractional or out of range (refused) or stay plausible (loads).
    where = "anywhere" if name == TSV else f"in {member}'s values"
    return Mutation("overwritten bytes", f"{name}: {data!r} at {offset} (mod size) {where}", apply)


@st.composite
def _deleted_file(draw) -> Mutation:
    name = draw(st.sampled_from([*FILES, TSV, "images"]))
    apply = lambda root: shutil.rmtree(root / name) if (root / name).is_dir() else (root / name).unlink()
    # Without a subject file the others are still a dataset; without the table or images it is not.
    return Mutation("deleted file", name, apply, name in (TSV, "images"))


@st.composite
def _unknown_roi(draw) -> Mutation:
    name, roi = draw(st.sampled_from(tuple(FILES))), draw(st.sampled_from(["V1", "LOC"]))
    new = draw(st.text(alphabet="ABCVXYZ0123456789_", min_size=1, max_size=6))

    def rename(f: h5py.File) -> None:
        keys = [k.decode() for k in f["metadata/key"][:]]
        _replace(
            f,
            "metadata/key",
            np.array([f"ROI_{new}" if k == f"ROI_{roi}" else k for k in keys], dtype=h5py.string_dtype()),
        )

    # One file's ROIs then differ from another's (or repeat a key); the same name changes nothing.
    return Mutation(
        "unknown ROI name in a file",
        f"{name}: ROI_{roi} -> ROI_{new}",
        lambda root: _edit_h5(root / name, rename),
        new != roi,
    )


_ROI_NAMES = st.sampled_from(god.ROIS) | st.text(alphabet="ABCDLOVX0123456789", min_size=1, max_size=4)


@st.composite
def _rois_option(draw) -> Mutation:
    rois = draw(st.lists(_ROI_NAMES, min_size=1, max_size=3))
    argv = lambda root, out: ["-q", "inspect-data", "--root", str(root), "--out", str(out), "--rois", *rois]
    # Known names this dataset lacks (V2 ...) are refused naming the file; unknown ones by argparse.
    return Mutation("ROI names asked for", " ".join(rois), argv=argv, refused=not set(rois) <= {"V1", "LOC"})


_NUMBERS = (
    st.integers(-(10**6), 10**6).map(str) | st.floats().map(str) | st.text(alphabet="0123456789.-+eEinfa x", max_size=8)
)
_OPTIONS = {
    "decode": [
        "--folds",
        "--n-voxels",
        "--width",
        "--input-noise",
        "--epochs",
        "--batch-size",
        "--lr",
        "--weight-decay",
        "--seed",
        "--decoder",
        "--device",
        "--roi",
        "--subject",
        "--split",
    ],
    "make-splits": ["--n-splits", "--seed"],
    "cache-images": ["--size"],
}


@st.composite
def _bad_option(draw) -> Mutation:
    command = draw(st.sampled_from(sorted(_OPTIONS)))
    option = draw(st.sampled_from(_OPTIONS[command]))
    value = draw(
        _NUMBERS
        if option not in ("--decoder", "--device", "--roi", "--subject", "--split")
        else st.text(alphabet="abcdeilnrSuV1:0", max_size=10)
    )

    def argv(root: Path, out: Path) -> list[str]:
        base = {
            "decode": _decode_argv(root, out),
            "make-splits": ["make-splits", "--root", str(root), "--out", str(out)],
            "cache-images": ["cache-images", "--root", str(root), "--out", str(out), "--size", "16"],
        }[command]
        return ["-q", *base, f"{option}={value}"]

    return Mutation(
        "bad option value", f"{command} {option}={value!r}", argv=argv, names=value if option == "--split" else ""
    )


MUTATIONS = {
    "dropped TSV rows": _dropped_tsv_rows(),
    "duplicated TSV row": _duplicated_tsv_row(),
    "corrupted TSV field": _corrupted_tsv_field(),
    "corrupted fMRI stimulus_id": _corrupted_fmri_id(),
    "NaN/Inf voxel": _non_finite_voxel(),
    "dropped, duplicated or reordered fMRI rows": _fmri_rows(),
    "truncated file": _truncated_file(),
    "wrong shape": _wrong_shape(),
    "wrong dtype": _wrong_dtype(),
    "removed HDF5 member": _removed_member(),
    "subject file that is not HDF5": _not_hdf5(),
    "missing images": _missing_images(),
    "broken JPEG": _broken_jpeg(),
    "overwritten bytes": _overwritten_bytes(),
    "deleted file": _deleted_file(),
    "unknown ROI name in a file": _unknown_roi(),
    "ROI names asked for": _rois_option(),
    "bad option value": _bad_option(),
}


# --- running a command and judging its end ------------------------------------------------------


def _load_only(root, subject, roi, split_spec, out, cfg) -> dict:
    """What ``run_decode`` does before training: load one subject x ROI and read the split."""
    data = god.GODLayout.from_root(root).load(subject, roi, average_repeats=not cfg.keep_repeats, check_images=False)
    read_split(split_spec, data.image_ids)
    return {}


def _run(argv: list[str]) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of one command; an exception escaping main fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse refusing an option value
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


def _check_refusal(mutation: Mutation, root: Path, err: str) -> None:
    """One line, ``brainteacher: error: <file or option>: <problem>``."""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("brainteacher: error: "), (mutation, err)
    named = lines[0].removeprefix("brainteacher: error: ")
    # A file of the dataset (or its folder), the option that was refused, or the file it named.
    assert named.startswith((str(root), "argument ")) or (mutation.names and named.startswith(mutation.names)), (
        mutation,
        err,
    )


def _check_table(mutation: Mutation, out: Path, stdout: str) -> None:
    """inspect-data's --out is complete: what was printed, a header and well-formed rows."""
    text = out.read_text()
    lines = text.splitlines()
    assert text == stdout and lines[0].split("\t") == list(INSPECTION_COLUMNS), mutation
    assert len(lines) > 1 and all(len(line.split("\t")) == len(INSPECTION_COLUMNS) for line in lines[1:]), mutation


def _commands(mutation: Mutation, root: Path, out_dir: Path) -> list[tuple[list[str], Path]]:
    if mutation.argv is not None:
        out = out_dir / "out"
        return [(mutation.argv(root, out), out)]
    inspect_out, decode_out = out_dir / "inspection.tsv", out_dir / "decoded"
    return [
        (["-q", "inspect-data", "--root", str(root), "--out", str(inspect_out)], inspect_out),
        (
            ["-q", *_decode_argv(root, decode_out)],
            decode_out,
        ),
    ]


def _try(mutation: Mutation, dataset: Path) -> None:
    TRIED[mutation.kind] += 1
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        root, out_dir = Path(tmp) / "data", Path(tmp) / "out"
        shutil.copytree(dataset, root)
        out_dir.mkdir()
        mutation.apply(root)
        for i, (argv, out) in enumerate(_commands(mutation, root, out_dir)):
            code, stdout, err = _run(argv)
            assert code in (0, 2), (mutation, argv, code, err)
            assert "Traceback" not in err, (mutation, err)
            if code == 2:
                _check_refusal(mutation, root, err)
                assert not out.exists(), (mutation, "a refused command left", out)
            elif "inspect-data" in argv:
                _check_table(mutation, out, stdout)
            assert not [p.name for p in out_dir.rglob("*") if ".tmp-" in p.name], (mutation, "temporary files left")
            if i == 0 and mutation.refused is not None:  # the first command is inspect-data (or the option's own)
                assert (code == 2) == mutation.refused, (
                    mutation,
                    "expected " + ("refusal" if mutation.refused else "success"),
                    err,
                )


def test_the_unmutated_dataset_loads(tiny_dataset, tmp_path):
    out = tmp_path / "inspection.tsv"
    code, stdout, err = _run(["-q", "inspect-data", "--root", str(tiny_dataset), "--out", str(out)])
    assert code == 0, err
    assert stdout.splitlines()[1:] == [
        "Subject1\tV1\t4\t12\t6\t2",
        "Subject1\tLOC\t3\t12\t6\t2",
        "Subject2\tV1\t4\t12\t6\t2",
        "Subject2\tLOC\t3\t12\t6\t2",
    ]


def test_every_mutation_is_refused_cleanly_or_loads(tiny_dataset, monkeypatch):
    monkeypatch.setattr(decoders, "run_decode", _load_only)  # data loading only: no model is trained
    TRIED.clear()
    start = time.perf_counter()

    # A session-scoped dataset with a nested @given: hypothesis sees no function-scoped fixture.
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(mutation=st.sampled_from(sorted(MUTATIONS)).flatmap(MUTATIONS.get))  # a kind, then its details
    def run(mutation: Mutation) -> None:
        _try(mutation, tiny_dataset)

    run()
    seconds = time.perf_counter() - start
    print(
        f"\nfuzz: {sum(TRIED.values())} mutations tried in {seconds:.1f} s: "
        + ", ".join(f"{k} {n}" for k, n in sorted(TRIED.items()))
    )
    assert set(TRIED) == set(MUTATIONS), f"never tried: {set(MUTATIONS) - set(TRIED)}"
    assert sum(TRIED.values()) >= MAX_EXAMPLES
