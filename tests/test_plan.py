"""plan: what a config runs and costs, counted from the config and the models themselves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from brainteacher.cli import main
from brainteacher.nn.archs import build_student
from brainteacher.plan import format_plan, forward_flops, plan
from brainteacher.runs import layered_config

REPO = Path(__file__).resolve().parents[1]


def _config(*files: str) -> dict:
    return layered_config([REPO / "config" / "config.yaml", *(REPO / "config" / f for f in files)])


def test_flops_of_torchvision_resnet18_at_224_px():
    # torchvision's ResNet-18 at 224 px: 1.81 G multiply-adds in its convolutions and fc.
    flops = forward_flops(build_student("resnet18", 1000, width=64), (3, 224, 224))
    assert flops == pytest.approx(2 * 1.814e9, rel=0.01)


def test_grouped_convolutions_count_per_group():
    solo = forward_flops(build_student("resnet18", 10, width=8), (3, 32, 32))
    cohort = forward_flops(build_student("resnet18", 10, width=8, members=4), (12, 32, 32))
    assert cohort == pytest.approx(4 * solo)


def test_default_plan_counts_its_jobs():
    stages = {s.name: s for s in plan(_config(), measure=False)}
    # 2 subjects x 2 ROIs x 4 splits per decoder, 5 inner folds each; 12 students (none, oracle, and per
    # ROI brain-mean, random and 3 shuffle draws) x 4 splits x 3 seeds in 12 cohorts.
    assert stages["decode (resnet1d)"].jobs == 16 and stages["decode (resnet1d)"].models == 80
    assert stages["students"].models == 144 and stages["students"].jobs == 12
    assert "network teacher" not in stages
    assert all(s.flops > 0 and s.gpu_s > 0 for s in stages.values())


def test_god_plan_counts_the_real_release():
    stages = {s.name: s for s in plan(_config("god.yaml"), measure=False)}
    # The pre-registered design: none, network, and per ROI (LOC, FFA, PPA) brain-mean and
    # network-matched with 5 shuffle draws each: 38 students x 4 splits x 4 seeds.
    assert stages["students"].models == 38 * 16
    assert stages["decode (resnet1d)"].jobs == 5 * 3 * 4 and "decode (linear)" not in stages
    # Each student: 3 forward passes x 1,500 steps x 64 images of a 112 px ResNet-18 (about a
    # quarter of its 224 px FLOPs), plus predicting its 1,200 images once.
    per_image = forward_flops(build_student("resnet18", 150, width=64), (3, 112, 112))
    assert 0.24 < per_image / (2 * 1.814e9) < 0.28
    assert stages["students"].flops / (38 * 16) == pytest.approx((3 * 1500 * 64 + 1200) * per_image)


def test_students_cohort_changes_jobs_not_models():
    config = _config()
    config["students"]["cohort"] = "student"
    stages = {s.name: s for s in plan(config, measure=False)}
    assert stages["students"].jobs == 144 and stages["students"].models == 144


def test_cli_prints_the_table(capsys):
    assert main(["plan", "--base", str(REPO / "config" / "config.yaml"), "--no-measure"]) == 0
    out = capsys.readouterr().out
    assert "students" in out and "one H200" in out and "total" in out


# One row of plan's table: stage, jobs, models, PFLOP, CPU time, H200 time ("-" when not estimated).
PLAN_ROW = re.compile(r"(?P<stage>\S.*?)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+(?:-|[\d.]+ \w+)\s+(-|[\d.]+ \w+)")


def _plan_rows(lines: list[str]) -> list[tuple[str, ...]]:
    """(stage, jobs, models, PFLOP, H200) of every row of a plan table; the CPU column is left out,
    since a header quotes the time measured on some machine."""
    return [m.groups() for line in lines if (m := PLAN_ROW.fullmatch(line.strip()))]


@pytest.mark.parametrize("name", ["god.yaml", "god-exploratory.yaml", "god-simulated.yaml"])
def test_a_config_header_quotes_its_plan(name):
    """The cost in a GOD-scale config's header is what `plan` gives for it today."""
    header = [line.removeprefix("#") for line in (REPO / "config" / name).read_text().splitlines() if line[:1] == "#"]
    printed = format_plan(plan(_config(name), measure=False), cores=2).splitlines()
    assert _plan_rows(header) == _plan_rows(printed) != []
