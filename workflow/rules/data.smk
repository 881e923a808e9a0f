# The dataset: simulate it (embedded default) or read the real GOD release; then check it.
# Simulated datasets sit in results/data/, shared by the runs that use the same preset and seed
# (the simulator is deterministic); everything else a run writes is in its own folder.


rule simulate:
    output:
        directory(f"results/{SHARED_DATA}/simulated-{{preset}}-seed{{seed}}{{signal}}"),
    log:
        f"results/{SHARED_DATA}/logs/simulated-{{preset}}-seed{{seed}}{{signal}}.log",
    benchmark:
        f"results/{SHARED_DATA}/benchmarks/simulated-{{preset}}-seed{{seed}}{{signal}}.tsv"
    wildcard_constraints:
        preset="quick|god",
        seed=r"\d+",
        signal=r"(-image[0-9.]+)?",  # data.image_signal, the null dial (empty: 1)
    conda:
        "../envs/brainteacher.yaml"
    params:
        py=PY,
        signal=lambda w: w.signal.removeprefix("-image") or "1",
    shell:
        "{params.py} simulate --out {output:q} --preset {wildcards.preset} --seed {wildcards.seed}"
        " --image-signal {params.signal} 2> {log:q}"


rule inspect_data:
    input:
        data_input,
    output:
        in_run("inspection.tsv"),
    log:
        in_run("logs/inspect_data.log"),
    benchmark:
        in_run("benchmarks/inspect_data.tsv")
    conda:
        "../envs/brainteacher.yaml"
    params:
        py=PY,
        root=data_root(),
        rois=config["rois"],
    shell:
        "{params.py} inspect-data --root {params.root:q} --rois {params.rois:q} --out {output:q} > /dev/null 2> {log:q}"


if not simulated() and config["data"].get("download", False):

    rule download_god:
        output:
            f"{config['data']['root']}/{{subject}}.h5",
        log:
            in_run("logs/download/{subject}.log"),
        benchmark:
            in_run("benchmarks/download/{subject}.tsv")
        conda:
            "../envs/brainteacher.yaml"
        params:
            py=PY,
            root=config["data"]["root"],
            md5=[f"{k}={v}" for k, v in config["data"].get("checksums", {}).items()],
        shell:
            "{params.py} download-god --out {params.root:q} --subjects {wildcards.subject} --md5 {params.md5:q} 2> {log:q}"
