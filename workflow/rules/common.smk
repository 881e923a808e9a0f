# Config validation, paths and the target list. The YAML is validated once, here; below this the
# package takes plain arguments.
import json
import re
import shlex
import sys

from snakemake.settings.types import DeploymentMethod
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# ROIs, decoders and teacher kinds come from the package's torch-free registry, not from a copy here.
from brainteacher.registry import (
    DECODERS,
    ROIS,
    expand_teachers,
    roi_plots_for,
    teacher_inputs,
    teacher_pattern,
)

# Each command's options are rendered from the package's config dataclasses (brainteacher.configs).
from brainteacher.configs import GLDConfig, workflow_options

# What the schema cannot check (unknown splits and subjects), and its errors as one line.
from brainteacher.config_checks import (
    ConfigError,
    check_config,
    check_real_data_present,
    real_data_files,
    schema_message,
)

# File names of the teacher folders, student folders and the image cache: their format modules.
from brainteacher.formats import image_cache, student_dir, teacher_dir
from brainteacher.registry import PRESETS
from brainteacher.runs import (
    DIAL_SUFFIX,
    PROVENANCE_FILE,
    SHARED_DATA,
    config_name,
    dial_values,
    run_name,
    simulated_dataset,
)


def _stop(message):
    """End the run before any job, with ``message`` as the one line the user sees. SystemExit, not
    WorkflowError: Snakemake prints a WorkflowError raised in a Snakefile with the Snakefile's
    frames under it (`File "common.smk", line N`), a traceback for what is a config mistake.
    """
    raise SystemExit(message)


def _validate_config():
    """The schema (its defaults filled in), then what it cannot check, then the real release's
    files: one line on the first problem instead of the schema dump or a MissingInputException.
    """
    try:
        validate(config, schema="../schemas/config.schema.yaml")
    except WorkflowError as err:
        cause = err.__context__  # the jsonschema ValidationError snakemake was handling
        if not hasattr(cause, "absolute_path"):
            raise
        _stop(schema_message(cause))
    try:
        check_config(config)
        check_real_data_present(config)
    except ConfigError as err:
        _stop(str(err))


_validate_config()


# Without --use-conda the interpreter running Snakemake is the one with brainteacher installed
# (the venv); with it, each job runs the `python` of the rule's conda environment.
_USES_CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
PY = (
    "python -m brainteacher"
    if _USES_CONDA
    else f"{shlex.quote(sys.executable)} -m brainteacher"
)

STUDENTS = config["students"]


def simulated():
    return config["data"]["source"] == "simulate"


def data_root():
    """The dataset folder: simulated into results/data/ (shared by every run of the same preset
    and seed: the simulator is deterministic) or the real release's folder."""
    if simulated():
        return f"results/{SHARED_DATA}/simulated-{simulated_dataset(config['data'])}"
    return config["data"]["root"]


def data_input(wildcards=None):
    """The dataset as a job input. Simulated: its folder; real: the TSV and subject files
    (which the opt-in download rule can fetch when data.download is true)."""
    return data_root() if simulated() else real_data_files(config)


# The run: every output of this config lives under results/<RUN>/, so two configs (or datasets)
# never write the same file, and one's tables cannot be redrawn under the other's title. Named by
# config `run:` or by the dataset and the --configfile files (brainteacher.runs.run_name).
CONFIG_FILES = [str(p) for p in workflow.overwrite_configfiles] or list(
    workflow.configfiles
)
CONFIG_NAME = config_name(CONFIG_FILES)
RUN = run_name(config, CONFIG_FILES)
# The resolved config, recorded (and hashed) by the provenance rule and checked by aggregate and plots.
CONFIG_JSON = json.dumps(config, sort_keys=True)


def in_run(path):
    """``path`` inside this run's folder: ``results/<RUN>/<path>``."""
    return f"results/{RUN}/{path}"


PROVENANCE = in_run(f"tables/{PROVENANCE_FILE}")
IMAGE_CACHE = in_run(f"images/{image_cache.cache_name(STUDENTS['image_size'])}")

ROI_PATTERN = "|".join(ROIS)
DECODER_PATTERN = "|".join(DECODERS)
TEACHER_PATTERN = teacher_pattern(ROIS)


# Each command's config options come from the package's config dataclasses (brainteacher.configs),
# the one place an option's name and default live: workflow_options(command, config) in the rules.
def student_options(wildcards):
    checkpoints = "".join(
        f" --init-checkpoint {shlex.quote(f)}" for f in init_files(wildcards)
    )
    return workflow_options("distill", config) + checkpoints


def simclr_backbone(split):
    return in_run(f"simclr/split{split}/backbone.pt")


def init_files(wildcards):
    """The split's SimCLR backbone when students start from it (students.init: simclr), else nothing."""
    return [simclr_backbone(wildcards.split)] if STUDENTS["init"] == "simclr" else []


def gld_needs_network_maps():
    """GLD's local/relation terms query the network teacher's fold models (see brainteacher.distill.student)."""
    return (
        STUDENTS["loss"] == "gld"
        and GLDConfig(terms=tuple(STUDENTS["gld_terms"])).needs_feature_maps
    )


def teachers():
    """Every teacher name the config asks for (brainteacher.registry.expand_teachers)."""
    return expand_teachers(config)


def decode_dir(decoder, subject, roi, split):
    return in_run(f"decode/{decoder}/{subject}/{roi}/split{split}")


def teacher_dirs(teacher, split):
    """The folders (or file) a teacher is built from, for one split (brainteacher.registry.teacher_inputs)."""
    return teacher_inputs(
        teacher,
        config["subjects"],
        network=in_run(f"network/split{split}"),
        ground_truth=f"{data_root()}/ground_truth.json",
        decode_dir=lambda subject, roi: decode_dir(
            STUDENTS["teacher_decoder"], subject, roi, split
        ),
    )


# The files of a teacher folder that a student reads (brainteacher.formats.teacher_dir), and the
# other files a decoder writes (its metrics.json is an output of its own).
TEACHER_FILES = list(teacher_dir.READ_FILES)
DECODE_FILES = [
    *TEACHER_FILES,
    teacher_dir.RAW_LOGITS,
    teacher_dir.SOFT_LABELS,
    teacher_dir.FOLDS,
]


# The network teacher's fold models, kept for GLD's local terms (brainteacher.distill.student).
NETWORK_MODEL_FILES = teacher_dir.network_model_files(config["network"]["folds"])


# Students train in cohorts: one distill job per split (students.cohort: split), per split and
# seed (seed), or per student (student). Its wildcards, and the students it trains:
COHORT = STUDENTS["cohort"]
COHORT_JOB = {
    "split": "split{split}",
    "seed": "split{split}/seed{seed}",
    "student": "{teacher}/split{split}/seed{seed}",
}[COHORT]
STUDENT_DIR = "distill/{teacher}/split{split}/seed{seed}"


def cohort_members(wildcards):
    """(teacher, split, seed) of every student the cohort job ``wildcards`` trains, seed-major so
    students that share a seed (and so their batches) sit together."""
    w = dict(wildcards.items())
    seeds = [int(w["seed"])] if "seed" in w else STUDENTS["seeds"]
    names = [w["teacher"]] if "teacher" in w else teachers()
    return [(t, w["split"], s) for s in seeds for t in names]


def cohort_outputs(name):
    """File ``name`` of every student of a cohort job, as patterns of the job's wildcards."""
    pattern = in_run(f"{STUDENT_DIR}/{name}")
    if COHORT == "student":
        return [pattern]
    kept = {"split": "{{split}}", "seed": "{{seed}}" if COHORT == "seed" else "{seed}"}
    return expand(
        pattern.replace("{split}", kept["split"]).replace("{seed}", kept["seed"]),
        teacher=teachers(),
        **({"seed": STUDENTS["seeds"]} if COHORT == "split" else {}),
    )


def student_dir_of(teacher, split, seed):
    return in_run(STUDENT_DIR.format(teacher=teacher, split=split, seed=seed))


def teacher_files(wildcards):
    """What a cohort job reads: its students' teacher folders' files (the oracle reads the
    dataset), plus the network teacher's fold models when GLD queries them."""
    files = []
    for teacher, split, _ in cohort_members(wildcards):
        files += [
            f"{d}/{name}"
            for d in teacher_dirs(teacher, split)
            if not d.endswith(".json")
            for name in TEACHER_FILES
        ]
        if teacher == "network" and gld_needs_network_maps():
            files += [in_run(f"network/split{split}/{n}") for n in NETWORK_MODEL_FILES]
    return sorted(set(files))


def member_options(wildcards):
    """``--member TEACHER SEED OUT [TEACHER_INPUT ...]`` for each student of the cohort job."""
    return " ".join(
        "--member "
        + shlex.join(
            [t, str(seed), student_dir_of(t, split, seed), *teacher_dirs(t, split)]
        )
        for t, split, seed in cohort_members(wildcards)
    )


def cohort_size(wildcards):
    return len(cohort_members(wildcards))


# The prediction files of a student that the summary's per-image comparisons read
# (brainteacher.analysis.comparisons); the evaluation set exists on simulated data only.
STUDENT_PREDICTIONS = list(student_dir.prediction_files(student_dir.HELDOUT))
if simulated():
    STUDENT_PREDICTIONS += student_dir.prediction_files(student_dir.EVALUATION)


def ground_truth_option():
    """``--ground-truth FILE`` on simulated data (the planted category groups), else nothing."""
    return (
        f"--ground-truth {shlex.quote(f'{data_root()}/ground_truth.json')}"
        if simulated()
        else ""
    )


def student_predictions():
    return expand(
        in_run("distill/{teacher}/split{split}/seed{seed}/{name}"),
        teacher=teachers(),
        split=config["splits"]["use"],
        seed=STUDENTS["seeds"],
        name=STUDENT_PREDICTIONS,
    )


def decoded(names):
    """Files ``names`` of every decode folder of this run (e.g. metrics.json, or the
    calibrated out-of-fold logits and labels that calibration.tsv pools)."""
    return expand(
        in_run("decode/{decoder}/{subject}/{roi}/split{split}/{name}"),
        decoder=config["decoders"],
        subject=config["subjects"],
        roi=config["rois"],
        split=config["splits"]["use"],
        name=names,
    )


def student_metrics():
    return expand(
        in_run("distill/{teacher}/split{split}/seed{seed}/metrics.json"),
        teacher=teachers(),
        split=config["splits"]["use"],
        seed=STUDENTS["seeds"],
    )


TABLES = ["decoders", "calibration", "students", "summary"]
PLOTS = roi_plots_for(teachers())
EVALUATION_PLOTS = ["accuracy_vs_size", "confusion_matrices", "pr_curves"]


def all_targets():
    return [
        in_run("inspection.tsv"),
        PROVENANCE,
        *expand(in_run("tables/{table}.tsv"), table=TABLES),
        *expand(
            in_run("plots/{plot}.{ext}"),
            plot=PLOTS + EVALUATION_PLOTS,
            ext=["png", "svg"],
        ),
    ]
