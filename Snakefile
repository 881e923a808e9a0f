# brainteacher workflow. Thin on purpose: the rules live in workflow/rules, the logic in the package.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/decode.smk"


rule all:
    input:
        all_targets(),
    default_target: True
