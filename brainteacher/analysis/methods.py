"""How each result table and figure is made, in words: one text per output, written once.

``aggregate`` copies a table's text into its sidecar's ``method`` field and ``captions`` puts the
same text into the Snakemake report's caption (``workflow/report/<name>.rst``), so the report and
the sidecar cannot say different things; ``tests/test_captions.py`` checks that the committed
captions are the generated ones. The texts are plain text (no RST, no Jinja), since the sidecars
are JSON; ``captions`` escapes them for RST. Change a text here together with the code it
describes, then rerun ``brainteacher captions --out workflow/report``.
"""

from __future__ import annotations

__all__ = ["TABLE_METHODS", "FIGURE_METHODS", "METHODS"]

# One entry per table of ``columns.COLUMNS``.
TABLE_METHODS: dict[str, str] = {
    "decoders": (
        "Each row is one decoder fitted to one subject's ROI on the training images of one split only: no test "
        "image of the split reaches it. Inside each inner fold the preprocessing (z-scoring, ANOVA voxel "
        "selection) is fitted on that fold's training rows, and every training image is scored by the fold "
        "model that never saw it (cross-fitting), so the metric columns (top1 ... ece) are out of fold, before "
        "calibration; top1_chance is 1/C. One temperature per row is then fitted by the Brier score on these "
        "out-of-fold logits (temperature; nll_calibrated, brier_calibrated and ece_calibrated after it); "
        "ece_floor is the ECE that sampling alone gives a perfectly calibrated model on as many images, so an "
        "ECE is read against it, not against 0."
    ),
    "calibration": (
        "Each row pools the calibrated out-of-fold predictions of one decoder and ROI over every subject and "
        "split (one per subject x split x training image): one decoder folder holds too few images to resolve "
        "a small ECE, and pooling lowers the floor. ece uses 15 equal-width confidence bins; ece_floor is the "
        "mean ECE of 1,000 draws of a perfectly calibrated model with the same probabilities on as many "
        "images, ece_excess = ece - ece_floor, and ece_p = (1 + hits) / 1001 is the share of those draws whose "
        "ECE reaches ece (small: miscalibrated beyond sampling). mean_confidence equals top1 when the "
        "predictions are calibrated."
    ),
    "students": (
        "Each row is one student (its architecture in arch) trained from its seed on the split's training images "
        "for a fixed number of optimizer steps (config students.steps): cross-entropy on the labels for the "
        "no-teacher baseline, else the loss in the loss column (Hinton KD or GLD) on the teacher's targets. The "
        "weights after the last step are scored, with no selection on held-out data: on the split's held-out "
        "images and, on simulated data, on the evaluation set (eval_*: images in no split, without fMRI). "
        "train_top1 and train_loss show how well the student fits its own training images; the teacher_* "
        "columns describe the tempered teacher targets on those images."
    ),
    "summary": (
        "Inference (test_reference ... p_holm): the students are the units. Each teacher group is tested "
        "against one reference (test_reference): the pre-registered one (config stats) for the primary "
        "teacher, its within-category shuffle draws for another brain teacher and for network-matched "
        "targets, the no-teacher baseline for every other group but the baseline itself. A teacher's students"
        " and its reference students were trained with the same seeds (the same initialisation and batches). "
        "Against shuffle draws the units are the splits (and sources, for a subject group): a draw pairs "
        "targets with images the same way in every seed, as the brain does, and is a uniform within-category "
        "permutation, so under the null that the brain targets carry nothing image-specific the brain's "
        "pairing and the draws' are exchangeable within each split, and their seeds, averaged, are "
        "replicates. Against any other reference the units are the (split, seed) runs. The p-value is a "
        "one-sided randomization test over the relabelings of every unit (exact up to 2^20, else 20,000 Monte"
        " Carlo draws); with one reference per unit (label smoothing, the baseline) it is a paired sign-flip "
        "test. The effect is the student minus the mean of its references, with a Student-t interval over the"
        " units. With few units (4 splits: 3 degrees of freedom) that interval can cross zero while the test"
        " rejects: the test also uses the spread of the shuffle draws within each unit. The test decides; the"
        " interval describes. Holm runs over the primary family's ROIs; every other p is unadjusted and "
        "exploratory. "
        "Description (diff_vs_*): two students paired image by image on the scoring images, runs averaged, "
        "categories as the units (t interval, two-sided sign-flip p); it holds the trained students fixed, so"
        " it does not carry seed-to-seed training noise and is not used for verdicts. The mean/ci columns are"
        " over runs (NA under 3). The sidecar's conclusion tests the primary teacher per ROI, in the same way"
        " and Holm-adjusted over the ROIs at 0.05, against its shuffle draws (image-specific information), "
        "against random targets of its entropy and true-class probability (beyond softness), against no "
        "teacher and, where the run has them, against network-matched targets (the network teacher given the "
        "brain targets' true-class probability and entropy per category: an image model of the same quality)."
        " Its positive_control says whether the oracle beats the baseline on the primary metric (one-sided p "
        "< 0.05); without an oracle, whether network-matched targets beat their own shuffle draws, per ROI; "
        "or that the run has neither. Where the positive control fails, this setting may not detect an effect: a "
        "null brain result there says nothing about the brain, while a significant one keeps the test's "
        "false-positive rate, which does not depend on the control."
    ),
}

# One entry per figure of the report (plots.write_plots and evaluation_plots.write_evaluation_plots).
FIGURE_METHODS: dict[str, str] = {
    "roi_comparison": (
        "Top-1 on the scoring images (the evaluation set when every student has one, else the held-out "
        "images), as differences in percentage points. Left: the pre-registered primary contrast per ROI "
        "(config stats; by default brain-mean against its within-category shuffle draws) from summary.tsv: "
        "the effect (the primary teacher's student minus the mean of its reference students, its units: the "
        "splits against shuffle draws, else the (split, seed) runs), its 95% Student-t interval and its Holm "
        "p; empty when the primary metric is not top-1. Right (exploratory, unadjusted): every teacher group "
        "minus the no-teacher baseline (diff_vs_baseline: paired image by image, runs averaged, categories as"
        " units) with its 95% interval; network and oracle sit in a 'no ROI' slot, and small grey points are "
        "each subject's brain teacher's mean gain over the baseline across runs. No bar: too few units for an"
        " interval. Below the panels: the positive-control verdict on top-1 and, when the primary metric is "
        "top-1, the run's conclusion in words."
    ),
    "decoder_accuracy": (
        "Out-of-fold top-1 accuracy of each decoder per ROI, on the training images of each split "
        "(cross-fitted): the mean with its 95% Student-t interval over subjects x splits, and each subject's "
        "mean over splits as a small point. The dashed line is chance (1/C)."
    ),
    "decoder_vs_gain": (
        "One point per subject x ROI: the out-of-fold top-1 of the decoder the brain teachers were built from "
        "(mean over splits) against the top-1 gain of that subject's brain-teacher students over the "
        "no-teacher baseline of the same split and seed, on the scoring images (mean over splits x seeds, "
        "percentage points), with Spearman's rank correlation over the points. The dashed line is the "
        "decoder's chance."
    ),
    "accuracy_vs_size": (
        "One panel per teacher (group x ROI), one point per student architecture (students.arch): its mean "
        "checkpoint size (MB, log axis) against its top-1 on the scoring images, the mean over its students "
        "(runs and subjects) with a bar from the lowest to the highest. Labels give its parameters and its CPU "
        "inference latency at batch 1 (median of repeated timings, latency_threads threads; students.tsv also "
        "has batch 64). "
        "The students.tsv tables of other runs (config report.size_comparison, e.g. a tiny-student run) are "
        "drawn beside this run's. The dotted line is chance."
    ),
    "confusion_matrices": (
        "One row-normalised confusion matrix per teacher (group x ROI) on the scoring images: counts pooled "
        "over its students (runs and subjects), each row divided by its true category's images, one colour "
        "scale for every panel; a panel's title gives its pooled top-1. On simulated data the categories are "
        "ordered by their planted superordinate group (white lines: group boundaries), so errors inside a "
        "block are confusions between related categories; on real data they are in label order."
    ),
    "pr_curves": (
        "Micro-averaged one-vs-rest precision-recall curves over every (image, category) decision on the "
        "scoring images, pooled over each teacher's students, for the no-teacher baseline, the brain teacher "
        "(group x ROI) with the highest mean top-1 (chosen for display, not a test) and the oracle positive "
        "control. The legend gives each one's macro PR-AUC, the mean over its students; students.tsv has macro "
        "ROC-AUC and PR-AUC per student, and summary.tsv their run-level means. The dotted line is chance "
        "(1/C)."
    ),
}

METHODS: dict[str, str] = {**TABLE_METHODS, **FIGURE_METHODS}
