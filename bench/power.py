"""Power of the primary test by design (seeds, shuffle draws), from the pipeline's own students.

The primary test (``brainteacher.analysis.stats.randomization_test``, the splits as units, each split's seeds
averaged) is simulated under a variance-components model whose components are estimated from
students the workflow trained, per ROI:

- ``sd_train``: one student's training noise around its pairing's mean (top-1 on the evaluation
  set), from every arm's spread over seeds within a split (common random numbers were measured to
  leave the brain-minus-draws contrast as noisy as independent students, so none is assumed);
- ``sd_pairing``: how much one pairing of targets with images moves its students, beyond training
  noise (the spread of the draws' seed means within a split);
- ``effect``: the brain students minus the mean of their draws, per split, and ``sd_effect`` its
  spread across splits beyond what the two above explain.

Each simulated run draws, per split, the brain's and K draws' seed means of S students, runs the
summary's own test with Holm over the ROIs, and counts rejections at 0.05 (one-sided). Power is
then a function of the design, at the measured effect or along a dial of effects (the power
curve). It is a model of the pipeline fitted to its students, not a count of real re-runs:
``bench/verdicts.py`` gives those, and they should agree.

    .venv/bin/python bench/power.py --runs results/verdict-base results/verdict-threads2 \
        results/verdict-seeds10 --null 'results/null-quick-seed*-image0'

Writes ``bench/out/power/components.tsv`` (per ROI) and ``bench/out/power/designs.tsv`` (power
per design and effect). Seconds of CPU, no training. With fewer splits (a smaller, faster default;
new datasets only), from the components already fitted:

    .venv/bin/python bench/power.py --components bench/measured/power-components.tsv --splits 3

writes ``bench/out/power/designs-3splits.tsv``.
"""

from __future__ import annotations

import argparse
import ast
import glob
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from brainteacher.analysis.stats import holm, randomization_test
from brainteacher.plan import plan
from brainteacher.runs import layered_config

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out" / "power"
SCORE = "eval_top1"  # the primary metric on the simulator's evaluation set, as the summary scores it
DESIGNS = [(2, 3), (3, 3), (3, 5), (4, 3), (4, 5), (6, 3), (6, 5), (8, 5)]  # (seeds, shuffle draws)
DIAL_PP = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]  # effects of the power curve, percentage points


@dataclass(frozen=True)
class Components:
    """One ROI's variance components, in top-1 fractions."""

    roi: str
    sd_train: float  # one student around its pairing's mean, over seeds
    sd_pairing: float  # one shuffle pairing's mean around the others', beyond training noise
    split_effects: tuple[float, ...]  # brain minus its draws per split, over every run and seed
    sd_effect: float  # the split effects' spread beyond what training noise explains

    @property
    def effect(self) -> float:
        return float(np.mean(self.split_effects))


def read_components(path: Path) -> list[Components]:
    """The per-ROI components as ``main`` wrote them to ``components.tsv``."""
    table = pd.read_csv(path, sep="\t")
    return [
        Components(
            r.roi,
            r.sd_train,
            r.sd_pairing,
            tuple(ast.literal_eval(r.split_effects)),  # written as a tuple's repr
            r.sd_effect,
        )
        for r in table.itertuples()
    ]


def primary_students(run: Path) -> pd.DataFrame:
    """The brain-mean students and their shuffle draws of one run; ``arm`` -1 is the brain."""
    students = pd.read_csv(run / "tables" / "students.tsv", sep="\t")
    students = students[students["kind"].isin(["brain", "shuffled-brain"]) & (students["source"] == "mean")]
    return students.assign(run=str(run), arm=np.where(students["kind"] == "brain", -1, students["draw"]))


def _noise(students: pd.DataFrame) -> tuple[float, float]:
    """(sd_train, sd_pairing): the spread of every arm over seeds within a (run, split), and of the
    draws' seed means within a split beyond it."""
    arms = students.groupby(["run", "split", "arm"])[SCORE]
    within = arms.var().mean()
    seeds = arms.count().mean()
    draws = students[students["arm"] >= 0].groupby(["run", "split", "arm"])[SCORE].mean()
    between = draws.groupby(["run", "split"]).var().mean()
    return float(np.sqrt(within)), float(np.sqrt(max(0.0, between - within / seeds)))


def components(students: pd.DataFrame, null: pd.DataFrame) -> list[Components]:
    """Per ROI of ``students`` (runs with signal): the noise (pooled with the null runs of that
    ROI, which train the same students) and the brain's effect per split."""
    out = []
    for roi, cell in students.groupby("roi"):
        sd_train, sd_pairing = _noise(pd.concat([cell, null[null["roi"] == roi]]))
        wide = cell.pivot_table(index=["run", "split", "seed"], columns="arm", values=SCORE)
        contrast = wide[-1] - wide.drop(columns=-1).mean(axis=1)  # one seed's brain minus its draws
        per_split = contrast.groupby("split")
        noise = (contrast.groupby(["split"]).var() / per_split.count()).mean()
        sd_effect = float(np.sqrt(max(0.0, per_split.mean().var() - noise)))
        out.append(Components(str(roi), sd_train, sd_pairing, tuple(per_split.mean()), sd_effect))
    return out


def simulate_p(
    c: Components, shift: float, seeds: int, draws: int, fixed: bool, rng: np.random.Generator, splits: int = 0
) -> float:
    """One simulated run's randomization p for one ROI: per split the brain's seed mean and its
    ``draws`` draws' seed means. ``fixed``: the split effects as measured (re-runs of the same
    dataset and splits), else drawn around their mean (new datasets); ``shift`` moves the effect.
    ``splits``: the test's units (0: as many as were measured; another count only for new datasets)."""
    splits = splits or len(c.split_effects)
    if fixed and splits != len(c.split_effects):
        raise ValueError(
            f"{splits} splits, but {len(c.split_effects)} were measured: only new datasets can have another count"
        )
    effects = np.array(c.split_effects) if fixed else c.effect + c.sd_effect * rng.standard_normal(splits)
    sd = np.hypot(c.sd_pairing, c.sd_train / np.sqrt(seeds))
    brain = effects + shift + sd * rng.standard_normal(splits)
    return float(randomization_test(brain, sd * rng.standard_normal((splits, draws)))["p_value"])


def power(
    rois: list[Components],
    shifts: dict[str, float],
    seeds: int,
    draws: int,
    fixed: bool,
    n_runs: int,
    seed: int,
    splits: int = 0,
) -> dict[str, float]:
    """Share of ``n_runs`` simulated runs in which each ROI's primary contrast is significant after
    Holm over ``rois`` at 0.05 (``splits``: as in :func:`simulate_p`)."""
    rng = np.random.default_rng(seed)
    hits = np.zeros(len(rois))
    for _ in range(n_runs):
        p = np.array([simulate_p(c, shifts[c.roi], seeds, draws, fixed, rng, splits) for c in rois])
        hits += holm(p) < 0.05
    return {c.roi: float(h / n_runs) for c, h in zip(rois, hits)}


def default_students(seeds: int, draws: int, splits: int = 0) -> int:
    """Students the default config trains under a design (``brainteacher.plan`` counts them);
    ``splits`` > 0 runs only that many of its splits."""
    config = layered_config([REPO / "config" / "config.yaml"])
    config["students"] |= {"seeds": list(range(seeds)), "shuffle_draws": draws}
    if splits:
        config["splits"]["use"] = list(range(splits))
    return next(stage.models for stage in plan(config, measure=False) if stage.name == "students")


def _runs(patterns: list[str]) -> list[Path]:
    """The run folders matching ``patterns`` that have a students table (a finished run)."""
    found = sorted(Path(p) for pattern in patterns for p in glob.glob(pattern))
    return [run for run in found if (run / "tables" / "students.tsv").is_file()]


def _fitted(args: argparse.Namespace) -> list[Components]:
    """The per-ROI components: read from ``--components``, or fitted to ``--runs`` (and written)."""
    if args.components:
        return read_components(args.components)
    if not args.runs:
        raise SystemExit("give --runs (to fit the components) or --components")
    students = pd.concat([primary_students(r) for r in _runs(args.runs)])
    nulls = _runs(args.null)
    null = pd.concat([primary_students(r) for r in nulls]) if nulls else students.iloc[:0]
    rois = components(students, null)
    table = pd.DataFrame([vars(c) | {"effect": c.effect} for c in rois])
    table.to_csv(OUT / "components.tsv", sep="\t", index=False, float_format="%.5g")
    print(table.to_string(index=False))
    return rois


def designs_table(rois: list[Components], args: argparse.Namespace) -> pd.DataFrame:
    """Power per design at each ROI's measured effect (same splits and new datasets), and the
    power curve along the effect. With ``args.splits``, the default runs only that many of its
    splits (fewer students, fewer units for the test): new datasets only."""
    rows = []
    for seeds, draws in DESIGNS:
        design = {"seeds": seeds, "draws": draws, "students": default_students(seeds, draws, args.splits)}
        for fixed in (False,) if args.splits else (True, False):
            at = power(rois, {c.roi: 0.0 for c in rois}, seeds, draws, fixed, args.n_runs, args.seed, args.splits)
            splits = "as measured" if fixed else "new datasets"
            rows += [
                design | {"roi": c.roi, "splits": splits, "effect_pp": 100 * c.effect, "power": at[c.roi]} for c in rois
            ]
        # The power curve: the dial moves every ROI's split effects by the same amount; each point
        # is the ROIs' mean power at their mean effect.
        for pp in DIAL_PP:
            shifts = {c.roi: pp / 100 - c.effect for c in rois}
            at = power(rois, shifts, seeds, draws, False, args.n_runs, args.seed, args.splits)
            rows.append(
                design | {"roi": "dial", "splits": "new datasets", "effect_pp": pp, "power": np.mean(list(at.values()))}
            )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=[], help="run folders with the planted signal (globs)")
    parser.add_argument("--null", nargs="*", default=[], help="null-calibration run folders (globs)")
    parser.add_argument(
        "--components", type=Path, help="a components.tsv to use instead of fitting --runs (bench/measured/...)"
    )
    parser.add_argument(
        "--splits", type=int, default=0, help="power on new datasets when the default runs this many of its 4 splits"
    )
    parser.add_argument("--n-runs", type=int, default=2000, help="simulated runs per design and effect")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    designs = designs_table(_fitted(args), args)
    name = f"designs-{args.splits}splits.tsv" if args.splits else "designs.tsv"
    designs.to_csv(OUT / name, sep="\t", index=False, float_format="%.4g")
    print(designs[designs["roi"] != "dial"].to_string(index=False))


if __name__ == "__main__":
    main()
