# Config validation, the run's name and its files. The YAML is validated once, here; below this the
# package takes plain arguments, and brainteacher.jobs.RunFiles says where every file lives.
import json
import re
import shlex
import sys

from snakemake.settings.types import DeploymentMethod
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# Names (ROIs, decoders, teacher kinds, presets) come from the package's torch-free registry.
from brainteacher.registry import (
    DECODERS,
    EVALUATION_PLOTS,
    PRESETS,
    ROIS,
    teacher_pattern,
)

# Each command's options are rendered from the package's config dataclasses (brainteacher.configs).
from brainteacher.configs import workflow_options

# What the schema cannot check (unknown splits and subjects), and its errors as one line.
from brainteacher.config_checks import (
    ConfigError,
    check_config,
    check_real_data_present,
    schema_message,
)
from brainteacher.formats import teacher_dir
from brainteacher.jobs import RunFiles
from brainteacher.runs import (
    DIAL_SUFFIX,
    SHARED_DATA,
    config_name,
    dial_values,
    run_name,
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

# Where the run's jobs read and write (simulated data in results/data/, shared across runs).
FILES = RunFiles(config, RUN)
in_run = FILES.in_run
DATA_ROOT = FILES.data_root

ROI_PATTERN = "|".join(ROIS)
DECODER_PATTERN = "|".join(DECODERS)
TEACHER_PATTERN = teacher_pattern(ROIS)
