# The dataset: simulate it (embedded default) or read the real GOD release; then check it.


rule simulate:
    output:
        directory("results/data/simulated-{preset}-seed{seed}"),
    params:
        py=PY,
    conda:
        "../envs/brainteacher.yaml"
    log:
        "results/logs/simulate/{preset}-seed{seed}.log",
    benchmark:
        "results/benchmarks/simulate/{preset}-seed{seed}.tsv"
    wildcard_constraints:
        preset="quick|god",
        seed=r"\d+",
    shell:
        "{params.py} simulate --out {output:q} --preset {wildcards.preset} --seed {wildcards.seed} 2> {log:q}"


rule inspect_data:
    input:
        data_input,
    output:
        "results/data/inspection.tsv",
    params:
        py=PY,
        root=data_root(),
        rois=config["rois"],
    conda:
        "../envs/brainteacher.yaml"
    log:
        "results/logs/inspect_data.log",
    benchmark:
        "results/benchmarks/inspect_data.tsv"
    shell:
        "{params.py} inspect-data --root {params.root:q} --rois {params.rois:q} --out {output:q} > /dev/null 2> {log:q}"


if not simulated() and config["data"].get("download", False):

    rule download_god:
        output:
            f"{config['data']['root']}/{{subject}}.h5",
        params:
            py=PY,
            root=config["data"]["root"],
            md5=[f"{k}={v}" for k, v in config["data"].get("checksums", {}).items()],
        conda:
            "../envs/brainteacher.yaml"
        log:
            "results/logs/download/{subject}.log",
        benchmark:
            "results/benchmarks/download/{subject}.tsv"
        shell:
            "{params.py} download-god --out {params.root:q} --subjects {wildcards.subject} --md5 {params.md5:q} 2> {log:q}"
