"""Rewrite the generated sections of docs/benchmarks.md from the measured tables in bench/measured/.

A generated section sits between ``<!-- generated: NAME -->`` and ``<!-- end: NAME -->``; the rest
of the file is hand-written. The tables come from the bench scripts that measure them:

- ``verdicts``: ``bench/verdicts.py`` (copy ``bench/out/verdicts.tsv`` to
  ``bench/measured/verdicts-default.tsv``); ``verdicts_powered``: the same with
  ``--overlay config/powered.yaml`` (``verdicts-powered.tsv``);
- ``power``: ``bench/power.py`` (copy ``bench/out/power/designs.tsv`` and ``components.tsv`` to
  ``bench/measured/power-designs.tsv`` and ``power-components.tsv``);
- ``null_calibration`` (``image_signal`` 0), ``power_curve`` (above 0, the quick preset) and
  ``pessimistic_power`` (the quick-pessimistic preset): ``bench/null_calibration.py``
  (copy ``bench/out/null_calibration/tests.tsv`` to ``bench/measured/null_calibration-tests.tsv``);
  ``null_calibration_v1``: the same for the first design of the test, kept as measured
  (``null_calibration-v1-tests.tsv``);
- ``matched_control`` and ``matched_control_threads`` (its runs repeated with ``--threads 2``):
  ``bench/matched_control.py`` (copy ``bench/out/matched_control/tests.tsv`` to
  ``bench/measured/matched_control-tests.tsv``);
- ``pessimistic``: ``bench/decoders.py --preset god-pessimistic`` (copy its TSVs, the band run's
  and the dial's, into ``bench/measured/pessimistic-decoders.tsv``).

    .venv/bin/python bench/docs.py            # rewrites docs/benchmarks.md in place
    .venv/bin/python bench/docs.py --check    # exit 1 if the file is not what the tables give
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from scipy import stats

from brainteacher.data.presets import get_preset

REPO = Path(__file__).resolve().parents[1]
MEASURED = REPO / "bench" / "measured"
DOC = REPO / "docs" / "benchmarks.md"
ALPHA = 0.05


def _pp(x: float) -> str:
    return f"{100 * x:+.1f}"


def verdicts_section(name: str = "verdicts-default.tsv") -> str:
    """One row per teacher x ROI: mean (SD) effect over the variants, each variant's p and verdict."""
    table = pd.read_csv(MEASURED / name, sep="\t")
    variants = list(dict.fromkeys(table["variant"]))
    walls = table.groupby("variant", sort=False)["wall_s"].first()
    design = table[table["teacher"] != "oracle"].iloc[0]
    lines = [
        f"Variants: {', '.join(f'`{v}`' for v in variants)}; design: {design['n_test_units']} splits x "
        f"{design['n_seeds']} seeds x {design['n_shuffle_draws']} shuffle draws. Effect: top-1 on the evaluation set,",
        "percentage points, mean (SD) over the variants; p: Holm-adjusted for the primary rows, the randomization",
        "p for the oracle. Workflow wall time up to the summary (2 CPU cores): "
        + ", ".join(f"{v} {w:.0f} s" for v, w in walls.items())
        + ".",
        "",
        "| teacher | ROI | contrast | effect, pp: mean (SD) | "
        + " | ".join(f"p, {v}" for v in variants)
        + " | verdicts |",
        "| --- | --- | --- | --- | " + " | ".join("---" for _ in variants) + " | --- |",
    ]
    for (teacher, roi), cell in table.groupby(["teacher", "roi"], sort=False):
        by_variant = cell.set_index("variant")
        contrast = "vs no teacher" if teacher == "oracle" else "vs its shuffle draws"
        spread = f" ({100 * cell['effect'].std():.1f})" if len(cell) > 1 else ""
        effect = f"{_pp(cell['effect'].mean())}{spread}"
        ps = " | ".join(f"{by_variant.loc[v, 'p']:.2g}" if v in by_variant.index else "NA" for v in variants)
        verdicts = "".join("+" if s else "-" for s in cell["significant"])
        lines.append(f"| {teacher} | {roi} | {contrast} | {effect} | {ps} | {verdicts} |")
    return "\n".join(lines)


def clopper_pearson(k: int, n: int) -> tuple[float, float]:
    """Exact 95% interval of a binomial rate."""
    low = stats.beta.ppf(0.025, k, n - k + 1) if k else 0.0
    high = stats.beta.ppf(0.975, k + 1, n - k) if k < n else 1.0
    return float(low), float(high)


def rejected(tests: pd.DataFrame, alpha: float = ALPHA) -> int:
    """How many of ``tests`` (rows with ``p_randomization``) reject at ``alpha``."""
    return int((tests["p_randomization"] <= alpha).sum())


def read_tests(path: Path) -> pd.DataFrame:
    """A ``bench/null_calibration.py`` tests.tsv (empty if absent), with the columns that later
    versions added filled in for the rows measured before them."""
    tests = pd.read_csv(path, sep="\t") if path.is_file() else pd.DataFrame()
    if tests.empty:
        return tests
    defaults = {"noise_scale": 1.0, "preset": "quick", "decoder_top1": float("nan")}
    return tests.assign(**{column: value for column, value in defaults.items() if column not in tests})


def null_calibration_section(name: str = "null_calibration-tests.tsv") -> str:
    """Rejection rate at 0.05 per image_signal and metric, with its interval and tie count."""
    tests = read_tests(MEASURED / name)
    # A test whose brain student and every draw agree on every image (identical targets) cannot
    # reject; it is counted, and shown, so the rate is not read as more than it is.
    tests = tests[tests["image_signal"] == 0].copy()  # the power curve's runs have their own section
    tests["tied"] = (tests["p_randomization"] >= 1.0) & (tests["effect"].abs() < 1e-9)
    lines = [
        "| image_signal | noise_scale | metric | datasets | tests | tests with all members tied | rejected at 0.05 "
        "| rate | 95% CI | rate, untied tests |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (signal, noise, metric), cell in tests.groupby(["image_signal", "noise_scale", "metric"]):
        n, k = len(cell), rejected(cell)
        low, high = clopper_pearson(k, n)
        untied = cell[~cell["tied"]]
        rate_untied = rejected(untied) / len(untied) if len(untied) else float("nan")
        lines.append(
            f"| {signal:g} | {noise:g} | {metric} | {cell['dataset'].nunique()} | {n} "
            f"| {int(cell['tied'].sum())} | {k} "
            f"| {k / n:.3f} | [{low:.3f}, {high:.3f}] | {rate_untied:.3f} (n {len(untied)}) |"
        )
    return "\n".join(lines)


def power_curve_section() -> str:
    """Along the image_signal and noise_scale dials (the null's runs excluded): per ROI, how many
    top-1 primary tests rejected at 0.05 (before Holm), with the mean effect."""
    tests = read_tests(MEASURED / "null_calibration-tests.tsv")
    tests = tests[(tests["image_signal"] > 0) & (tests["metric"] == "top1") & (tests["preset"] == "quick")]
    rois = list(dict.fromkeys(tests["roi"]))
    lines = [
        "| image_signal | noise_scale | datasets | " + " | ".join(rois) + " |",
        "| --- | --- | --- | " + " | ".join("---" for _ in rois) + " |",
    ]
    for (signal, noise), setting in tests.groupby(["image_signal", "noise_scale"]):
        cells = []
        for roi in rois:
            cell = setting[setting["roi"] == roi]
            k = rejected(cell)
            cells.append(f"{k}/{len(cell)} ({_pp(cell['effect'].mean())} pp)")
        lines.append(f"| {signal:g} | {noise:g} | {setting['dataset'].nunique()} | " + " | ".join(cells) + " |")
    return "\n".join(lines + ["", _power_model_check(tests)])


def _power_model_check(tests: pd.DataFrame) -> str:
    """The power model's prediction for the calibration's design (2 seeds x 3 draws, each ROI's
    test alone, new datasets) beside the rejections counted at the default's dial setting, where
    the model's components were fitted."""
    from power import power, read_components  # bench/power.py, beside this script

    rois = read_components(MEASURED / "power-components.tsv")
    design = tests.iloc[0]
    seeds, draws = int(design["n_seeds"]), int(design["n_shuffle_draws"])
    at_default = tests[(tests["image_signal"] == 1) & (tests["noise_scale"] == 1)]
    parts = []
    for c in rois:
        predicted = power([c], {c.roi: 0.0}, seeds, draws, fixed=False, n_runs=2000, seed=0)[c.roi]
        cell = at_default[at_default["roi"] == c.roi]
        k, n = rejected(cell), len(cell)
        low, high = clopper_pearson(k, n)
        parts.append(f"{c.roi} {predicted:.2f} against {k}/{n} measured (95% CI {low:.2f} to {high:.2f})")
    return (
        f"The power model (`bench/power.py`, fitted to the default's students: `power-components.tsv`) "
        f"predicts, for this design ({seeds} seeds x {draws} draws, one test alone, new datasets) at "
        f"image_signal 1 and noise_scale 1: " + "; ".join(parts) + "."
    )


def power_section() -> str:
    """Power per design (at each ROI's measured effect) and the power curve along the effect."""
    designs = pd.read_csv(MEASURED / "power-designs.tsv", sep="\t")
    rois = designs[designs["roi"] != "dial"]
    lines = [
        "| seeds | shuffle draws | students (default teachers) | "
        + " | ".join(
            f"{r} ({e:+.1f} pp): same splits / new datasets"
            for r, e in rois.groupby("roi", sort=False)["effect_pp"].first().items()
        )
        + " |",
        "| --- | --- | --- | " + " | ".join("---" for _ in rois["roi"].unique()) + " |",
    ]
    for (seeds, draws), cell in rois.groupby(["seeds", "draws"]):
        by = cell.set_index(["roi", "splits"])["power"]
        cells = [f"{by[(r, 'as measured')]:.2f} / {by[(r, 'new datasets')]:.2f}" for r in cell["roi"].unique()]
        lines.append(f"| {seeds} | {draws} | {int(cell['students'].iloc[0])} | " + " | ".join(cells) + " |")
    dial = designs[designs["roi"] == "dial"]
    effects = sorted(dial["effect_pp"].unique())
    lines += [
        "",
        "Power curve (new datasets; every ROI's split effects moved to the same mean effect):",
        "",
        "| seeds | shuffle draws | " + " | ".join(f"{e:g} pp" for e in effects) + " |",
        "| --- | --- | " + " | ".join("---" for _ in effects) + " |",
    ]
    for (seeds, draws), cell in dial.groupby(["seeds", "draws"]):
        by = cell.set_index("effect_pp")["power"]
        lines.append(f"| {seeds} | {draws} | " + " | ".join(f"{by[e]:.2f}" for e in effects) + " |")
    return "\n".join(lines)


def pessimistic_section() -> str:
    """Out-of-fold single-trial 150-way top-1 along the noise dial, per decoder and ROI: mean
    [min, max] over the subjects, against the god-pessimistic preset's stated band."""
    from brainteacher.data.presets import PESSIMISTIC_TARGET, in_pessimistic_band

    table = pd.read_csv(MEASURED / "pessimistic-decoders.tsv", sep="\t")
    low, high = PESSIMISTIC_TARGET
    base = get_preset("god-pessimistic").noise_sd
    lines = [
        "| noise_scale | trial noise SD | ROI | decoder | subjects | top-1 mean (%) | min - max (%) | x chance | "
        f"in the band [{100 * low:.1f}, {100 * high:.1f}] % |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (scale, roi, decoder), cell in table.groupby(["noise_scale", "roi", "decoder"]):
        top1, chance = cell["top1"], cell["chance"].mean()
        band = ("yes" if in_pessimistic_band(top1.mean()) else "no") if roi == "LOC" else "-"  # the target is LOC's
        lines.append(
            f"| {scale:g} | {base * scale:.2f} | {roi} | {decoder} | {len(cell)} | {100 * top1.mean():.2f} "
            f"| {100 * top1.min():.2f} - {100 * top1.max():.2f} | {top1.mean() / chance:.1f} | {band} |"
        )
    return "\n".join(lines)


def pessimistic_power_section() -> str:
    """Along quick-pessimistic's noise dial: per ROI, the teacher decoder's out-of-fold top-1 (mean
    over datasets, of the pooled top-1 over subjects and splits) beside how many top-1 primary
    tests rejected at 0.05 (before Holm) and the mean effect."""
    tests = read_tests(MEASURED / "null_calibration-tests.tsv")
    tests = tests[(tests["preset"] == "quick-pessimistic") & (tests["metric"] == "top1")]
    tests = tests.sort_values("noise_scale", kind="stable")  # the dial in order, ROIs as measured
    lines = [
        "| noise_scale | ROI | datasets | decoder top-1 (%) | x chance | rejected at 0.05 | mean effect |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    chance = 1 / get_preset("quick-pessimistic").n_categories
    for (scale, roi), cell in tests.groupby(["noise_scale", "roi"], sort=False):
        top1 = cell["decoder_top1"].mean()
        lines.append(
            f"| {scale:g} | {roi} | {len(cell)} | {100 * top1:.1f} | {top1 / chance:.1f} "
            f"| {rejected(cell)}/{len(cell)} | {_pp(cell['effect'].mean())} pp |"
        )
    return "\n".join(lines)


# What each of bench/matched_control.py's contrasts is, in the order the table shows them.
_MATCHED_CONTRASTS = {
    "oracle": "oracle vs no teacher (the simulator's positive control)",
    "matched": "network-matched vs its 3 shuffle draws (the positive control on real data)",
    "primary": "brain-mean vs its 3 shuffle draws (the primary test)",
    "brain_vs_matched": "brain-mean vs network-matched",
}


def _matched_control_tests() -> pd.DataFrame:
    """bench/matched_control.py's measured tests, with ``p``: Holm's where the summary applies
    it, else the randomization p."""
    tests = pd.read_csv(MEASURED / "matched_control-tests.tsv", sep="\t")
    return tests.assign(p=tests["p_holm"].fillna(tests["p_randomization"]))


def matched_control_section() -> str:
    """Per preset, noise scale, thread count, contrast and ROI: how many runs (datasets) passed at
    0.05 (Holm over the ROIs where the summary applies it: the primary test and brain vs
    network-matched), the effect's mean and range over the runs, and the ROI's decoder top-1."""
    tests = _matched_control_tests()
    tests = tests.sort_values(["preset", "noise_scale", "threads"], kind="stable")  # ROIs in the order measured
    lines = [
        "| preset | noise_scale | threads per job | contrast | ROI | decoder top-1 (%) | runs | passed at 0.05 "
        "| effect, pp: mean (min, max) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (preset, noise, threads), by_setting in tests.groupby(["preset", "noise_scale", "threads"], sort=False):
        for contrast, text in _MATCHED_CONTRASTS.items():
            for roi, cell in by_setting[by_setting["contrast"] == contrast].groupby("roi", sort=False):
                decoder = "-" if roi == "all" else f"{100 * cell['decoder_top1'].mean():.1f}"
                effect, passed = cell["effect"], int((cell["p"] < ALPHA).sum())
                lines.append(
                    f"| {preset} | {noise:g} | {threads} | {text} | {roi} | {decoder} | {len(cell)} "
                    f"| {passed}/{len(cell)} | {_pp(effect.mean())} ({_pp(effect.min())}, {_pp(effect.max())}) |"
                )
    return "\n".join(lines)


def matched_control_threads_section() -> str:
    """Each run that was repeated with another thread count per job, side by side: per contrast
    and ROI, the effect and p of each thread count and whether the verdict (p < 0.05) held."""
    tests = _matched_control_tests()
    key = ["preset", "noise_scale", "dataset", "contrast", "roi"]
    counts = sorted(tests["threads"].unique())
    if len(counts) < 2:
        return "No run was repeated with another thread count."
    order = tests["contrast"].map({c: i for i, c in enumerate(_MATCHED_CONTRASTS)})  # as in the table above
    tests = tests.assign(order=order).sort_values(["preset", "noise_scale", "dataset", "order"], kind="stable")
    wide = tests.pivot_table(index=key, columns="threads", values=["effect", "p"], sort=False).dropna()
    head = " | ".join(f"{t} thread{'s' if t > 1 else ''}: effect, p" for t in counts)
    lines = [
        f"| preset | noise_scale | dataset | contrast | ROI | {head} | verdict held |",
        "| --- | --- | --- | --- | --- | " + "--- | " * len(counts) + "--- |",
    ]
    held = 0
    for (preset, noise, dataset, contrast, roi), row in wide.iterrows():
        same = len({row[("p", t)] < ALPHA for t in counts}) == 1
        held += same
        cells = " | ".join(f"{_pp(row[('effect', t)])} pp, {row[('p', t)]:.2g}" for t in counts)
        lines.append(
            f"| {preset} | {noise:g} | {dataset} | {contrast} | {roi} | {cells} | {'yes' if same else '**no**'} |"
        )
    lines.append("")
    lines.append(f"Verdicts that held: {held} of {len(wide)}.")
    return "\n".join(lines)


SECTIONS: dict[str, Callable[[], str]] = {
    "verdicts": verdicts_section,
    "verdicts_powered": lambda: verdicts_section("verdicts-powered.tsv"),
    "power": power_section,
    "null_calibration": null_calibration_section,
    "power_curve": power_curve_section,
    # The first design (derangement draws, fresh per seed; (split, seed) units), kept as measured.
    "null_calibration_v1": lambda: null_calibration_section("null_calibration-v1-tests.tsv"),
    "pessimistic": pessimistic_section,
    "pessimistic_power": pessimistic_power_section,
    "matched_control": matched_control_section,
    "matched_control_threads": matched_control_threads_section,
}


def render(text: str) -> str:
    """``text`` with every generated section replaced by what its tables give now."""
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- generated: {name} -->\n)(?:.*?\n)?(<!-- end: {name} -->)", re.S)
        match = pattern.search(text)
        if not match:
            raise SystemExit(f"{DOC}: no generated section '{name}'")
        text = text[: match.start()] + match.group(1) + make() + "\n" + match.group(2) + text[match.end() :]
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from what it should be")
    args = parser.parse_args()
    text = DOC.read_text()
    new = render(text)
    if args.check:
        sys.exit(0 if new == text else f"{DOC} is out of date: run bench/docs.py")
    DOC.write_text(new)


if __name__ == "__main__":
    main()
