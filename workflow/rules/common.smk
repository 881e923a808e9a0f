# Config validation and the target list. The YAML is validated once, here; below this the
# package takes plain arguments.
import sys
from pathlib import Path

from snakemake.utils import validate


validate(config, schema="../schemas/config.schema.yaml")

# The interpreter running Snakemake is the one with brainteacher installed (the venv).
PY = f"{sys.executable} -m brainteacher"


def data_root():
    """The dataset folder: simulated into results/ or the real release's folder."""
    if config["data"]["source"] == "simulate":
        return f"results/data/simulated-{config['data']['preset']}-seed{config['data']['seed']}"
    return config["data"]["root"]


def data_input(wildcards=None):
    """What a rule reading the dataset depends on: the simulated folder, or the real TSV."""
    if config["data"]["source"] == "simulate":
        return data_root()
    return str(Path(config["data"]["root"]) / "stimulus_ImageNetTraining.tsv")


def all_targets():
    return ["results/data/inspection.tsv"]
