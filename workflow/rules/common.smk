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


wildcard_constraints:
    subject=r"Subject\d+",
    roi="|".join(["V1", "V2", "V3", "V4", "LOC", "FFA", "PPA", "LVC", "HVC", "VC"]),
    decoder="linear|resnet1d",
    split=r"\d+",


def decode_options(wildcards):
    """The decode CLI's options from config['decode'] (n_voxels null = GOD's 500/1000 per ROI)."""
    d = config["decode"]
    opts = [f"--folds {d['folds']}", f"--width {d['width']}", f"--input-noise {d['input_noise']}", f"--epochs {d['epochs']}",
            f"--batch-size {d['batch_size']}", f"--lr {d['lr']}", f"--weight-decay {d['weight_decay']}", f"--seed {d['seed']}", f"--device {d['device']}"]
    if d.get("n_voxels") is not None:
        opts.append(f"--n-voxels {d['n_voxels']}")
    if d.get("within_run"):
        opts.append("--within-run")
    return " ".join(opts)


def all_targets():
    decoded = expand(
        "results/decode/{decoder}/{subject}/{roi}/split{split}/metrics.json",
        decoder=config["decoders"],
        subject=config["subjects"],
        roi=config["rois"],
        split=config["splits"]["use"],
    )
    return ["results/data/inspection.tsv", *decoded]
