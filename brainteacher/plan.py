"""What a config costs before it runs: its jobs, models, FLOPs and time on this CPU and one H200.

``plan(config)`` counts what the workflow would run for a resolved config (``config/config.yaml``
with the given files merged over it: ``runs.layered_config``): decode jobs
(subject x ROI x decoder x split, each cross-fitting ``decode.folds`` models), network teachers,
SimCLR backbones and students (teachers x splits x seeds, in ``distill`` jobs of
``students.cohort``). FLOPs are counted from the models themselves (2 per multiply-add of every
convolution and linear layer; a training step is 3 forward passes), so a change of width, depth,
image size or stem shows. Times:

- **this CPU**: a few training steps of the config's student and of its 1D decoder are timed
  here on one thread, and every job's FLOPs run at that measured rate, ``cores`` jobs at a time,
  plus each job's measured start-up;
- **one H200**: at the FLOP rate that ``bench/cohort.py`` measured for grouped cohorts of the
  nearest student size on an H200 (students, network teachers, SimCLR), and per GOD-scale decode
  job as measured there. Estimates, not promises: the GPU rate holds for cohorts large enough
  to fill the card.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from brainteacher.data.presets import is_simulated

__all__ = ["Stage", "plan", "format_plan", "forward_flops", "H200_STUDENT_RATES", "H200_DECODE_S"]

# bench/cohort.py throughput on one H200 (2026-12-04, torch 2.11, bf16 autocast, channels_last),
# grouped cohorts at their best measured size: (image px, width, batch) -> training images/s.
H200_STUDENT_RATES: dict[tuple[int, int, int], float] = {(32, 16, 32): 23282, (64, 16, 32): 18493, (64, 64, 64): 5585}
# bench/cohort.py decode on one H200: one GOD-scale resnet1d decode job (5 folds x 40 epochs over
# 720 rows of 500 voxels, width 8), seconds. Launch-bound, so it is charged per job, not per FLOP.
# Measured when the folds trained one after another; CUDA now groups them (decode.cohort_layout),
# a fifth of the kernel launches, not yet timed on a card: read it as an upper bound.
H200_DECODE_S = 46.4
_JOB_START_S = 2.5  # measured start-up of a brainteacher job on this kind of CPU (imports, data)


@dataclass(frozen=True)
class Stage:
    """One stage of a plan: its ``jobs``, the ``models`` they train, total FLOPs and estimated
    seconds on this CPU (``cores`` jobs side by side) and on one H200."""

    name: str
    jobs: int
    models: int
    flops: float
    cpu_s: float
    gpu_s: float


def _dataset(config: Mapping) -> tuple[int, int, int, int]:
    """(images, categories, evaluation images, subjects available) of the config's dataset."""
    if is_simulated(config["data"]):
        from brainteacher.data.presets import get_preset

        p = get_preset(config["data"]["preset"])
        return (
            p.n_categories * p.images_per_category,
            p.n_categories,
            p.n_categories * p.n_evaluation_per_category,
            p.n_subjects,
        )
    return 1200, 150, 0, 5  # GOD: 150 categories x 8 training images


def forward_flops(model, input_shape: Sequence[int]) -> float:
    """FLOPs of one forward pass of ``model`` on one input of ``input_shape`` (no batch axis):
    2 per multiply-add of every convolution and linear layer (BatchNorm, ReLU and pooling are
    memory-bound and left out)."""
    import torch
    from torch import nn

    from brainteacher.nn.resnet import MemberLinear

    total = 0.0
    linear = (nn.Linear, MemberLinear)

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.modules.conv._ConvNd):
            per_output = module.in_channels // module.groups * math.prod(module.kernel_size)
            total += 2.0 * output.numel() * per_output
        else:
            total += 2.0 * output.numel() * module.in_features

    hooks = [
        m.register_forward_hook(count) for m in model.modules() if isinstance(m, (*linear, nn.modules.conv._ConvNd))
    ]
    with torch.no_grad():
        model.eval()(torch.zeros(1, *input_shape))
    for h in hooks:
        h.remove()
    return total


def _student_model(students: Mapping, n_classes: int, depth: int | None = None):
    from brainteacher.nn.archs import build_student

    return build_student(
        students["arch"], n_classes, depth=depth or students["depth"], width=students["width"], stem=students["stem"]
    )


def _decoder_model(decode: Mapping, n_voxels: int, n_classes: int, decoder: str):
    from brainteacher.configs import DecoderConfig
    from brainteacher.decode.decoders import build_decoder

    cfg = DecoderConfig(
        decoder=decoder, width=decode["width"], stem=decode["stem"], linear_shortcut=decode["linear_shortcut"]
    )
    return build_decoder(cfg, n_voxels, n_classes)


def _seconds_per_step(model, input_shape: Sequence[int], batch: int, n_classes: int, steps: int = 4) -> float:
    """Median wall seconds of one training step (forward, backward, AdamW) on one CPU thread."""
    import torch

    from brainteacher.nn.optim import AdamW

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model.train()
        opt = AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
        x, y = torch.randn(batch, *input_shape), torch.randint(0, n_classes, (batch,))
        times = []
        for _ in range(steps + 1):
            t0 = time.perf_counter()
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
            times.append(time.perf_counter() - t0)
        return sorted(times[1:])[len(times[1:]) // 2]
    finally:
        torch.set_num_threads(before)


def _h200_student_rate(image_size: int, width: int, flops_per_image: float, n_classes: int) -> float:
    """Training FLOP/s on one H200 at the measured rate nearest in FLOPs per training image."""
    best = None
    for (px, w, _), images_per_s in H200_STUDENT_RATES.items():
        ref = 3 * forward_flops(
            _student_model({"arch": "resnet18", "depth": 18, "width": w, "stem": "imagenet"}, n_classes), (3, px, px)
        )
        distance = abs(math.log(ref / flops_per_image))
        if best is None or distance < best[0]:
            best = (distance, ref * images_per_s)
    return best[1]


def plan(config: Mapping[str, Any], cores: int = 2, measure: bool = True) -> list[Stage]:
    """The stages of ``config`` (a resolved config) with their counts, FLOPs and time estimates."""
    from brainteacher.registry import expand_teachers, parse_teacher, teacher_kind

    n_images, n_classes, n_eval, _ = _dataset(config)
    k, use = config["splits"]["n_splits"], len(config["splits"]["use"])
    n_train = n_images * (k - 1) // k
    n_test = n_images - n_train
    students, decode = config["students"], config["decode"]
    seeds = len(students["seeds"])
    teachers = expand_teachers(config)
    stages = []

    # Decoders: every decoder x subject x ROI x split, each cross-fitting decode.folds models.
    folds = decode["folds"]
    rows = n_train * (folds - 1) // folds
    steps_per_fold = decode["epochs"] * math.ceil(rows / decode["batch_size"])
    for decoder in config["decoders"]:
        n_voxels = decode["n_voxels"] or (1000 if any(r in ("LVC", "HVC", "VC") for r in config["rois"]) else 500)
        model = _decoder_model(decode, n_voxels, n_classes, decoder)
        per_sample = forward_flops(model, (1, n_voxels))
        jobs = len(config["subjects"]) * len(config["rois"]) * use
        flops = jobs * folds * (3 * per_sample * steps_per_fold * decode["batch_size"] + per_sample * n_train)
        step_s = _seconds_per_step(model, (1, n_voxels), decode["batch_size"], n_classes) if measure else math.nan
        cpu = jobs * (folds * steps_per_fold * step_s + _JOB_START_S) / cores
        # The H200 decode job was measured at GOD scale; smaller ones are charged in proportion to their steps.
        gpu = (
            jobs * H200_DECODE_S * min(1.0, folds * steps_per_fold / (5 * 40 * 23))
            if decoder == "resnet1d"
            else jobs * 1.0
        )
        stages.append(Stage(f"decode ({decoder})", jobs, jobs * folds, flops, cpu, gpu))

    size = students["image_size"]
    net = _student_model(students, n_classes)
    per_image = forward_flops(net, (3, size, size))
    step_s = _seconds_per_step(net, (3, size, size), students["batch_size"], n_classes) if measure else math.nan
    gpu_rate = _h200_student_rate(size, students["width"], 3 * per_image, n_classes)
    train_flops = 3 * per_image * students["steps"] * students["batch_size"]
    predict_flops = per_image * (n_train + n_test + n_eval)

    # The network teacher trains when a student learns from it, or from its matched targets.
    if any(teacher_kind(parse_teacher(t).kind).from_network for t in teachers):
        depth = config["network"]["depth"]
        net_teacher = _student_model(students, n_classes, depth)
        ratio = forward_flops(net_teacher, (3, size, size)) / per_image
        models = use * config["network"]["folds"]
        flops = models * ratio * (train_flops + per_image * n_train)
        cpu = use * (config["network"]["folds"] * ratio * students["steps"] * step_s + _JOB_START_S) / cores
        stages.append(Stage("network teacher", use, models, flops, cpu, flops / gpu_rate))
    if students["init"] == "simclr":
        simclr = config["simclr"]
        flops = use * 2 * 3 * per_image * simclr["steps"] * simclr["batch_size"]
        cpu = (
            use * (2 * simclr["steps"] * step_s * simclr["batch_size"] / students["batch_size"] + _JOB_START_S) / cores
        )
        stages.append(Stage("SimCLR backbone", use, use, flops, cpu, flops / gpu_rate))

    n_students = len(teachers) * use * seeds
    per_job = {"split": len(teachers) * seeds, "seed": len(teachers), "student": 1}[students.get("cohort", "seed")]
    jobs = math.ceil(n_students / per_job)
    flops = n_students * (train_flops + predict_flops)
    cpu = (n_students * students["steps"] * step_s + jobs * _JOB_START_S) / cores
    stages.append(Stage("students", jobs, n_students, flops, cpu, flops / gpu_rate))
    return stages


def _duration(seconds: float) -> str:
    if math.isnan(seconds):
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _row(s: Stage) -> str:
    cost = f"{s.flops / 1e15:>9.3f} {_duration(s.cpu_s):>15} {_duration(s.gpu_s):>10}"
    return f"{s.name:<20} {s.jobs:>6} {s.models:>7} {cost}"


def format_plan(stages: list[Stage], cores: int) -> str:
    """A fixed-width table of the stages and their total."""
    header = f"{'stage':<20} {'jobs':>6} {'models':>7} {'PFLOP':>9} {f'CPU ({cores} cores)':>15} {'one H200':>10}"
    total = Stage("total", *(sum(getattr(s, f) for s in stages) for f in ("jobs", "models", "flops", "cpu_s", "gpu_s")))
    rule = "-" * len(header)
    return "\n".join([header, rule, *(_row(s) for s in stages), rule, _row(total)])
