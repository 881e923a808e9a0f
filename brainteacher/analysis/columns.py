"""The result tables' vocabulary: every column of decoders.tsv, calibration.tsv, students.tsv and summary.tsv with
its meaning and units, written once; ``aggregate`` copies it into each table's provenance sidecar.

Also the values the tables use for what is absent (``NA_REP``), their number format, and the names
of the summary's references and pooled rows.
"""

from __future__ import annotations

from brainteacher.registry import kind_names

__all__ = [
    "COLUMNS",
    "DECODER_COLUMNS",
    "STUDENT_COLUMNS",
    "SUMMARY_COLUMNS",
    "CALIBRATION_COLUMNS",
    "INSPECTION_COLUMNS",
    "TABLE_FILES",
    "markdown",
    "METRIC_DOCS",
    "AUC_DOCS",
    "REFERENCES",
    "BASELINE_KIND",
    "GLOBAL_ROI",
    "NO_SUBJECT",
    "NA_REP",
    "FLOAT_FORMAT",
]

BASELINE_KIND = "none"
GLOBAL_ROI = "all"  # the summary's ROI for teachers that use no ROI
NO_SUBJECT = "-"  # the summary's subject for the mean source and the global teachers

# Reference name in column suffixes -> teacher kind it stands for (None: the baseline, kind "none").
REFERENCES: dict[str, str | None] = {
    "baseline": None,
    "label_smoothing": "label-smoothing",
    "shuffled_brain": "shuffled-brain",
}

NA_REP = "NA"  # how a missing value is written in the TSVs (read back by read_table)
FLOAT_FORMAT = "%.8g"  # eight significant digits: far below any run-to-run difference

METRIC_DOCS = {
    "top1": "top-1 accuracy, fraction of images (0-1) whose highest-scored category is the true one",
    "top1_chance": "top-1 accuracy of a random ranking, 1 / n_categories",
    "top5": "top-k accuracy with k = min(5, n_categories), fraction 0-1",
    "top5_chance": "top-k accuracy of a random ranking, k / n_categories",
    "mean_normalised_rank": (
        "mean fraction of the other categories scored below the true one (ties half); 1 = always first, chance 0.5"
    ),
    "nll": "mean negative log-likelihood of the true category, nats (lower is better)",
    "nll_chance": "NLL of uniform probabilities, log(n_categories), nats",
    "ece": "expected calibration error, 15 equal-width confidence bins, fraction 0-1 (0 = calibrated)",
}
# Ranking metrics from the saved logits (softmax probabilities): not per-image outcomes, so the
# summary gives them run-level means only.
AUC_DOCS = {
    "roc_auc": "macro one-vs-rest ROC-AUC of the softmax probabilities, mean over categories present (chance 0.5)",
    "pr_auc": (
        "macro one-vs-rest PR-AUC (average precision) of the softmax probabilities, mean "
        "over categories present (chance ~1 / n_categories)"
    ),
}
_PROVENANCE_DOCS = {
    "device": "device the job ran on (e.g. cpu, cuda:0)",
    "config_hash": "short SHA-256 of the job's configuration",
    "git_revision": "source commit of the job (-dirty: uncommitted changes)",
}

_ECE_FLOOR_DOC = (
    "ECE that sampling alone gives a perfectly calibrated model with the same calibrated "
    "probabilities on as many images (mean over 1,000 draws), fraction 0-1: read ECE against it, not 0"
)

DECODER_DOCS: dict[str, str] = {
    "subject": "subject whose fMRI was decoded (e.g. Subject1)",
    "roi": "region of interest the voxels came from (e.g. V1, LOC)",
    "decoder": "decoder architecture (e.g. linear, resnet1d)",
    "split": "train/test image split (e.g. split0); the decoder saw only its training images",
    **{k: f"out-of-fold {v}" for k, v in METRIC_DOCS.items()},
    "n_images": "training images decoded (one soft label each)",
    "n_categories": "number of categories",
    "n_voxels": "voxels kept after voxel selection",
    "n_folds": "cross-fitting folds (each image scored by a fold model that never saw it)",
    "head_weight": (
        "resnet1d: mean over the folds of the residual head's cross-fitted weight (0 = the linear read-out"
        " alone, 1 = the head as trained); NA for the linear decoder and with head_weight one"
    ),
    "temperature": (
        "calibration temperature, fitted by the Brier score on the out-of-fold logits of the split's training"
        " images (no test image)"
    ),
    "nll_calibrated": "out-of-fold NLL after calibration, nats",
    "brier_calibrated": "out-of-fold Brier score after calibration (0 to 2; chance 1 - 1/C)",
    "ece_calibrated": "out-of-fold ECE after calibration (15 bins), fraction 0-1",
    "ece_floor": _ECE_FLOOR_DOC,
    "epochs": "training epochs per fold model",
    "wall_time_s": "wall-clock time of the decode job, seconds",
    **_PROVENANCE_DOCS,
}

STUDENT_DOCS: dict[str, str] = {
    "teacher": "teacher spec: none, network, oracle or KIND/SOURCE/ROI (e.g. brain/Subject1/LOC)",
    "kind": f"teacher kind: {', '.join(kind_names())}",
    "source": (
        "whose brain data the teacher derives from: a subject, or mean (mean over subjects); NA for none/network/oracle"
    ),
    "roi": "ROI of the brain-derived teacher; NA for none/network/oracle",
    "draw": "which within-category shuffle draw a shuffled-brain teacher is (0, 1, ...); 0 for every other teacher",
    "decoder": "decoder whose out-of-fold logits the brain-derived teacher came from; NA for none/network/oracle",
    "split": "train/test image split (e.g. split0)",
    "seed": "student training seed",
    "arch": "student architecture: resnet18 (the ResNet student) or tiny (2 conv blocks + classifier)",
    "loss": "training loss: ce (no teacher), hinton (KD) or gld (global + local logits + relations)",
    "init": "student initialisation: random, weights (a torchvision file) or simclr (pretrain-simclr backbone)",
    **{k: f"student, the split's held-out images: {v}" for k, v in METRIC_DOCS.items()},
    **{k: f"student, the split's held-out images: {v}" for k, v in AUC_DOCS.items()},
    **{
        f"eval_{k}": f"student, the simulated evaluation set (never in a split, no fMRI): {v}; NA on real data"
        for k, v in (METRIC_DOCS | AUC_DOCS).items()
    },
    "train_top1": "student top-1 on its own training images after the last step (no augmentation): near 1 = fits them",
    "train_loss": "mean training loss of the last epoch (the KD objective for distilled students, CE for the baseline)",
    "scoring_set": (
        "images the summary's comparisons use: evaluation (simulated data) or heldout (the split's held-out images)"
    ),
    "teacher_true_class_prob": (
        "mean probability of the true category in the tempered teacher targets, training images; NA for none"
    ),
    "teacher_entropy": "mean entropy of the tempered teacher targets, nats, training images; NA for none",
    "teacher_top1": (
        "fraction of training images whose tempered teacher target ranks the true category first; NA for none"
    ),
    "n_train": "student training images",
    "n_test": "student held-out images",
    "n_evaluation": "student evaluation-set images (0 on real data)",
    "n_categories": "number of categories",
    "train_time_s": "wall-clock time of student training, seconds: the student's share (1/K) of its cohort's",
    "cohort_size": "students trained together with this one (K; 1 = alone), in one process and optimizer step",
    "n_parameters": "trainable parameters of the student",
    "size_mb": "size of the student checkpoint (model.pt, a state_dict), MB (2^20 bytes)",
    "latency_ms_batch1": (
        "CPU inference latency, batch of 1 image, median of repeated timings, "
        "milliseconds (latency_threads threads; an upper bound on a loaded machine)"
    ),
    "latency_ms_batch64": "CPU inference latency, batch of 64 images, median of repeated timings, milliseconds",
    "latency_threads": "torch CPU threads the latency was timed with",
    **_PROVENANCE_DOCS,
    "folder": "the student's output folder (its predictions feed the summary's per-image comparisons)",
}


def _reference_docs(ref: str, kind: str | None) -> dict[str, str]:
    if kind is None:
        what = "the no-teacher baseline (teacher none) at the same split and seed"
    else:
        what = f"the {kind} control of the same source and ROI at the same split and seed"
    return {
        f"diff_vs_{ref}": (
            f"this teacher - {what}: per-image paired difference on the scoring images, "
            "averaged over runs, mean over categories (metric units); NA if no pairs or the "
            "row is that reference"
        ),
        f"diff_vs_{ref}_ci_low": (
            f"lower bound of the Student-t interval of diff_vs_{ref} over categories (the "
            "independent units); NA with fewer than 3"
        ),
        f"diff_vs_{ref}_ci_high": "upper bound of that interval",
        f"p_vs_{ref}": (
            f"two-sided sign-flip permutation p-value of diff_vs_{ref} over categories (exact "
            "up to 16 categories); unadjusted, descriptive: it holds the trained students fixed"
        ),
        f"n_units_vs_{ref}": "categories (independent units) in the comparison; 0 if none",
        f"n_images_vs_{ref}": "scoring images paired in the comparison",
    }


CALIBRATION_DOCS: dict[str, str] = {
    "decoder": "decoder architecture (e.g. linear, resnet1d)",
    "roi": "region of interest",
    "n_folders": "decoder folders pooled: subjects x splits",
    "n_images": "out-of-fold predictions pooled (one per subject x split x training image)",
    "top1": "out-of-fold top-1 accuracy of the pooled predictions, fraction 0-1",
    "mean_confidence": "mean highest calibrated probability; equals top1 when calibrated",
    "true_class_prob": "mean calibrated probability of the true category",
    "true_class_prob_chance": "true_class_prob of uniform probabilities, 1 / n_categories",
    "ece": "ECE of the pooled calibrated predictions (15 equal-width bins), fraction 0-1",
    "ece_floor": _ECE_FLOOR_DOC,
    "ece_excess": "ece - ece_floor: miscalibration beyond sampling (can be slightly negative)",
    "ece_p": (
        "fraction of the calibrated model's 1,000 ECEs that reach ece, (1 + hits) / 1001: small "
        "means miscalibrated beyond sampling"
    ),
}

SUMMARY_DOCS: dict[str, str] = {
    "teacher": (
        "teacher group: kind for a subject source (brain, ...), kind-mean for the mean "
        "source (brain-mean, ...), none/network/oracle"
    ),
    "roi": "ROI of the teacher; all for none/network/oracle",
    "metric": (
        "student metric summarised: top1, top5 (fractions) or nll (nats), on the scoring "
        "images; roc_auc and pr_auc (macro one-vs-rest) rows give the run-level mean and "
        "interval only (not per-image outcomes, so every diff/p column is NA)"
    ),
    "family": (
        "primary (the pre-registered contrast, config stats), positive-control (the oracle, and network-matched: "
        "the positive control where there is no oracle) or exploratory"
    ),
    "scoring_set": "images scored: evaluation (simulated evaluation set) or heldout (the splits' held-out images)",
    "n": "runs (split x seed) with a value; a pooled group's subjects are averaged within a run",
    "mean": "mean of the metric over runs",
    "ci_low": "lower bound of the Student-t interval of the mean over runs; NA with fewer than 3 runs",
    "ci_high": "upper bound of that interval",
    "test_reference": (
        "the students-as-units test's reference: shuffled_brain (a brain teacher's shuffle draws; the primary "
        "contrast's by default), shuffled_network_matched (network-matched's shuffle draws), the config's "
        "stats.primary_reference for the primary teacher, else baseline; empty for the baseline itself"
    ),
    "n_seeds": "student seeds among the test's units",
    "n_shuffle_draws": "most shuffle draws a unit holds when the reference is a shuffle (shuffled_*); 0 otherwise",
    "n_test_units": (
        "the test's units: splits against shuffle draws (seeds averaged: replicates of one pairing), else "
        "(split, seed) runs; times sources for a subject group against its brain-derived control"
    ),
    "effect": (
        "mean over the test's units of this student minus the mean of its reference students in the unit "
        "(metric units; for NLL negative = better)"
    ),
    "effect_ci_low": "lower bound of the Student-t interval of effect over the units; NA with fewer than 2",
    "effect_ci_high": "upper bound of that interval",
    "p_randomization": (
        "one-sided p (in the helpful direction) of the randomization test: within each unit the student and its "
        "reference students are exchangeable under the null; exact over every relabeling up to 2^20, else 20,000 "
        "Monte Carlo draws"
    ),
    "p_holm": "p_randomization Holm-adjusted over the primary family's ROIs; NA outside the primary family",
    **{k: v for ref, kind in REFERENCES.items() for k, v in _reference_docs(ref, kind).items()},
}

INSPECTION_DOCS: dict[str, str] = {
    "subject": "subject file's name (e.g. Subject1)",
    "roi": "region of interest (e.g. V1, LOC)",
    "n_voxels": "voxels in the ROI, before any voxel selection",
    "n_train_trials": "training rows (DataType 1) in the subject file: one per presentation",
    "n_images": "distinct training images among those rows (repeats averaged later)",
    "n_categories": "distinct categories among those images",
}

DECODER_COLUMNS = tuple(DECODER_DOCS)
INSPECTION_COLUMNS = tuple(INSPECTION_DOCS)
STUDENT_COLUMNS = tuple(STUDENT_DOCS)
SUMMARY_COLUMNS = tuple(SUMMARY_DOCS)
CALIBRATION_COLUMNS = tuple(CALIBRATION_DOCS)
COLUMNS: dict[str, dict[str, str]] = {
    "decoders": DECODER_DOCS,
    "calibration": CALIBRATION_DOCS,
    "students": STUDENT_DOCS,
    "summary": SUMMARY_DOCS,
}

# Where each table lives in a run folder, and what one row is: for the column reference.
TABLE_FILES: dict[str, tuple[str, str, dict[str, str]]] = {
    "inspection": ("inspection.tsv", "one row per subject x ROI of the dataset (inspect-data)", INSPECTION_DOCS),
    "decoders": ("tables/decoders.tsv", "one row per subject x ROI x decoder x split", DECODER_DOCS),
    "calibration": (
        "tables/calibration.tsv",
        "one row per decoder x ROI, every subject's and split's calibrated out-of-fold predictions pooled",
        CALIBRATION_DOCS,
    ),
    "students": ("tables/students.tsv", "one row per student: teacher x split x seed", STUDENT_DOCS),
    "summary": ("tables/summary.tsv", "one row per teacher group x ROI x metric", SUMMARY_DOCS),
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown() -> str:
    """The column reference (docs/columns.md): every column of every result table, from the dicts above."""
    lines = [
        "# Result tables: every column",
        "",
        "Generated by `python -m brainteacher columns --out docs/columns.md` from `brainteacher/analysis/columns.py`, "
        "the same text each table's `<table>.provenance.json` sidecar carries; `tests/test_columns_doc.py` "
        f"fails when this file is stale. Paths are inside a run folder, `results/<run>/`. Missing values are "
        f"written `{NA_REP}`.",
    ]
    for name, (path, rows, docs) in TABLE_FILES.items():
        lines += ["", f"## {name}", "", f"`{path}`: {rows}.", "", "| column | meaning |", "| --- | --- |"]
        lines += [f"| `{column}` | {_cell(doc)} |" for column, doc in docs.items()]
    return "\n".join(lines) + "\n"
