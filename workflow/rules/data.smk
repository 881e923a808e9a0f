# The dataset: simulate it (embedded default) or read the real GOD release; then check it.


rule simulate:
    output:
        directory("results/data/simulated-{preset}-seed{seed}"),
    log:
        "results/logs/simulate/{preset}-seed{seed}.log",
    benchmark:
        "results/benchmarks/simulate/{preset}-seed{seed}.tsv"
    wildcard_constraints:
        preset="quick|god",
        seed=r"\d+",
    shell:
        "{PY} simulate --out {output} --preset {wildcards.preset} --seed {wildcards.seed} 2> {log}"


rule inspect_data:
    input:
        data_input,
    output:
        "results/data/inspection.tsv",
    params:
        root=data_root(),
        rois=" ".join(config["rois"]),
    log:
        "results/logs/inspect_data.log",
    benchmark:
        "results/benchmarks/inspect_data.tsv"
    shell:
        "{PY} inspect-data --root {params.root} --rois {params.rois} --out {output} > /dev/null 2> {log}"
