"""The workflow's files: where a run's jobs read and write, and which students a cohort job trains.

Snakemake's parse step builds one :class:`RunFiles` from the resolved config (``common.smk``) and
its rules ask it for paths, so the layout lives in the package, importable and tested without
Snakemake. Torch-free: nothing here may import torch (``tests/test_layout.py``).

Paths are strings relative to the workflow's root, as Snakemake wants them. A "pattern" keeps
some ``{wildcard}`` fields for Snakemake to fill (``{split}``, ``{seed}``).
"""

from __future__ import annotations

import itertools
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from brainteacher.config_checks import real_data_files
from brainteacher.configs import GLDConfig, workflow_options
from brainteacher.data.presets import is_simulated
from brainteacher.formats import image_cache, student_dir, teacher_dir
from brainteacher.registry import EVALUATION_PLOTS, expand_teachers, roi_plots_for, teacher_inputs
from brainteacher.runs import PROVENANCE_FILE, SHARED_DATA, simulated_dataset

__all__ = ["COHORT_JOBS", "STUDENT_DIR", "TABLES", "RunFiles", "expand"]

# A cohort job's wildcards (students.cohort): every student of a split, of a split and seed, or one.
COHORT_JOBS = {
    "split": "split{split}",
    "seed": "split{split}/seed{seed}",
    "student": "{teacher}/split{split}/seed{seed}",
}
STUDENT_DIR = "distill/{teacher}/split{split}/seed{seed}"
DECODE_DIR = "decode/{decoder}/{subject}/{roi}/split{split}"
TABLES = ("decoders", "calibration", "students", "summary")


def expand(pattern: str, **values: Sequence[Any]) -> list[str]:
    """``pattern`` filled with every combination of ``values``, the last key varying fastest (the
    order of Snakemake's ``expand``); fields not named stay as ``{field}`` for Snakemake."""
    keys = list(values)
    return [_fill(pattern, dict(zip(keys, combo))) for combo in itertools.product(*values.values())]


def _fill(pattern: str, values: Mapping[str, Any]) -> str:
    for key, value in values.items():
        pattern = pattern.replace(f"{{{key}}}", str(value))
    return pattern


@dataclass(frozen=True)
class RunFiles:
    """The files of the run ``run`` of the resolved (schema-validated) ``config``.

    Every output lives under ``results/<run>/``; a simulated dataset lives in ``results/data/``,
    shared by every run of the same preset, seed and dials (the simulator is deterministic).
    """

    config: Mapping[str, Any]
    run: str

    # --- the dataset -------------------------------------------------------------------------------

    @property
    def simulated(self) -> bool:
        return is_simulated(self.config["data"])

    @property
    def data_root(self) -> str:
        """The dataset folder: the simulated one in results/data/, or the real release's."""
        if self.simulated:
            return f"results/{SHARED_DATA}/simulated-{simulated_dataset(self.config['data'])}"
        return self.config["data"]["root"]

    def data_input(self, wildcards: Any = None) -> str | list[str]:
        """The dataset as a job input: the simulated folder, or the real TSV and subject files
        (which the opt-in download rule can fetch)."""
        return self.data_root if self.simulated else real_data_files(self.config)

    @property
    def ground_truth(self) -> str:
        """The simulator's planted structure (simulated data only)."""
        return f"{self.data_root}/ground_truth.json"

    # --- the run's folders -------------------------------------------------------------------------

    def in_run(self, path: str) -> str:
        """``path`` inside this run's folder: ``results/<run>/<path>``."""
        return f"results/{self.run}/{path}"

    @property
    def provenance(self) -> str:
        return self.in_run(f"tables/{PROVENANCE_FILE}")

    @property
    def image_cache(self) -> str:
        return self.in_run(f"images/{image_cache.cache_name(self.config['students']['image_size'])}")

    def decode_dir(self, decoder: str, subject: str, roi: str, split: Any) -> str:
        return self.in_run(DECODE_DIR.format(decoder=decoder, subject=subject, roi=roi, split=split))

    def student_dir(self, teacher: str, split: Any, seed: Any) -> str:
        return self.in_run(STUDENT_DIR.format(teacher=teacher, split=split, seed=seed))

    # --- teachers ------------------------------------------------------------------------------------

    @cached_property
    def teachers(self) -> list[str]:
        """Every teacher name the config asks for (brainteacher.registry.expand_teachers)."""
        return expand_teachers(self.config)

    def teacher_dirs(self, teacher: str, split: Any) -> list[str]:
        """The folders (or file) ``teacher`` is built from, for one split."""
        decoder = self.config["students"]["teacher_decoder"]
        return teacher_inputs(
            teacher,
            self.config["subjects"],
            network=self.in_run(f"network/split{split}"),
            ground_truth=self.ground_truth,
            decode_dir=lambda subject, roi: self.decode_dir(decoder, subject, roi, split),
        )

    @property
    def gld_needs_network_maps(self) -> bool:
        """GLD's local/relation terms query the network teacher's fold models."""
        students = self.config["students"]
        return students["loss"] == "gld" and GLDConfig(terms=tuple(students["gld_terms"])).needs_feature_maps

    @property
    def network_model_files(self) -> list[str]:
        """The network teacher's fold models, kept for GLD's local terms."""
        return teacher_dir.network_model_files(self.config["network"]["folds"])

    # --- cohorts -------------------------------------------------------------------------------------

    @property
    def cohort_job(self) -> str:
        """The wildcards of a distill job (students.cohort), as a path."""
        return COHORT_JOBS[self.config["students"]["cohort"]]

    def cohort_members(self, wildcards: Mapping[str, Any]) -> list[tuple[str, str, int]]:
        """(teacher, split, seed) of every student the cohort job ``wildcards`` trains, seed-major
        so that students sharing a seed (and so their batches) sit together."""
        w = dict(wildcards.items())
        seeds = [int(w["seed"])] if "seed" in w else self.config["students"]["seeds"]
        names = [w["teacher"]] if "teacher" in w else self.teachers
        return [(t, w["split"], s) for s in seeds for t in names]

    def cohort_outputs(self, name: str) -> list[str]:
        """File ``name`` of every student of a cohort job, as patterns of the job's wildcards."""
        pattern = self.in_run(f"{STUDENT_DIR}/{name}")
        cohort = self.config["students"]["cohort"]
        if cohort == "student":
            return [pattern]
        seeds = {"seed": self.config["students"]["seeds"]} if cohort == "split" else {}
        return expand(pattern, teacher=self.teachers, **seeds)

    def init_files(self, wildcards: Any) -> list[str]:
        """The split's SimCLR backbone when students start from it (students.init: simclr)."""
        return [self.simclr_backbone(wildcards.split)] if self.config["students"]["init"] == "simclr" else []

    def student_options(self, wildcards: Any) -> str:
        """The distill command's config options, plus the SimCLR backbone it starts from."""
        checkpoints = "".join(f" --init-checkpoint {shlex.quote(f)}" for f in self.init_files(wildcards))
        return workflow_options("distill", self.config) + checkpoints

    def simclr_backbone(self, split: Any) -> str:
        return self.in_run(f"simclr/split{split}/backbone.pt")

    def teacher_files(self, wildcards: Mapping[str, Any]) -> list[str]:
        """What a cohort job reads: its students' teacher folders' files (the oracle reads the
        dataset), plus the network teacher's fold models when GLD queries them."""
        files = []
        for teacher, split, _ in self.cohort_members(wildcards):
            dirs = [d for d in self.teacher_dirs(teacher, split) if not d.endswith(".json")]
            files += [f"{d}/{name}" for d in dirs for name in teacher_dir.READ_FILES]
            if teacher == "network" and self.gld_needs_network_maps:
                files += [self.in_run(f"network/split{split}/{n}") for n in self.network_model_files]
        return sorted(set(files))

    def member_options(self, wildcards: Mapping[str, Any]) -> str:
        """``--member TEACHER SEED OUT [TEACHER_INPUT ...]`` for each student of the cohort job."""
        return " ".join(
            "--member " + shlex.join([t, str(seed), self.student_dir(t, split, seed), *self.teacher_dirs(t, split)])
            for t, split, seed in self.cohort_members(wildcards)
        )

    def cohort_size(self, wildcards: Mapping[str, Any]) -> int:
        return len(self.cohort_members(wildcards))

    # --- what aggregate reads --------------------------------------------------------------------------

    @property
    def prediction_names(self) -> list[str]:
        """A student's prediction files that the per-image comparisons read; the evaluation set
        exists on simulated data only."""
        names = list(student_dir.prediction_files(student_dir.HELDOUT))
        return names + list(student_dir.prediction_files(student_dir.EVALUATION)) if self.simulated else names

    def students(self, names: Sequence[str]) -> list[str]:
        """Files ``names`` of every student of this run."""
        return expand(
            self.in_run(f"{STUDENT_DIR}/{{name}}"),
            teacher=self.teachers,
            split=self.config["splits"]["use"],
            seed=self.config["students"]["seeds"],
            name=names,
        )

    def decoded(self, names: Sequence[str]) -> list[str]:
        """Files ``names`` of every decode folder of this run."""
        return expand(
            self.in_run(f"{DECODE_DIR}/{{name}}"),
            decoder=self.config["decoders"],
            subject=self.config["subjects"],
            roi=self.config["rois"],
            split=self.config["splits"]["use"],
            name=names,
        )

    def ground_truth_option(self) -> str:
        """``--ground-truth FILE`` on simulated data (the planted category groups), else nothing."""
        return f"--ground-truth {shlex.quote(self.ground_truth)}" if self.simulated else ""

    # --- the targets -----------------------------------------------------------------------------------

    @cached_property
    def roi_plots(self) -> list[str]:
        """The ROI figures this config can fill (brainteacher.registry.roi_plots_for)."""
        return roi_plots_for(self.teachers)

    def all_targets(self) -> list[str]:
        plots = [*self.roi_plots, *EVALUATION_PLOTS]
        return [
            self.in_run("inspection.tsv"),
            self.provenance,
            *expand(self.in_run("tables/{table}.tsv"), table=TABLES),
            *expand(self.in_run("plots/{plot}.{ext}"), plot=plots, ext=["png", "svg"]),
        ]
