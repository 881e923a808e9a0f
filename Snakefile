# brainteacher workflow. Thin on purpose: the rules live in workflow/rules, the logic in the package.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"


wildcard_constraints:
    subject=r"Subject\d+",
    roi=ROI_PATTERN,
    decoder=DECODER_PATTERN,
    split=r"\d+",
    seed=r"\d+",
    teacher=TEACHER_PATTERN,


include: "workflow/rules/data.smk"
include: "workflow/rules/decode.smk"
include: "workflow/rules/distill.smk"
include: "workflow/rules/aggregate.smk"


rule all:
    default_target: True
    input:
        FILES.all_targets(),
