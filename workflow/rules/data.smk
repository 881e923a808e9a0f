# The dataset: simulate it (embedded default) or read the real GOD release; then check it.
# Simulated datasets sit in results/data/, shared by the runs that use the same preset and seed
# (the simulator is deterministic); everything else a run writes is in its own folder.


rule simulate:
    output:
        directory(f"results/{SHARED_DATA}/simulated-{{preset}}-seed{{seed}}{{dials}}"),
    log:
        f"results/{SHARED_DATA}/logs/simulated-{{preset}}-seed{{seed}}{{dials}}.log",
    benchmark:
        f"results/{SHARED_DATA}/benchmarks/simulated-{{preset}}-seed{{seed}}{{dials}}.tsv"
    wildcard_constraints:
        preset="|".join(re.escape(p) for p in PRESETS),
        seed=r"\d+",
        dials=DIAL_SUFFIX,  # data.image_signal (the null dial) and data.noise_scale; empty: both 1
    conda:
        "../envs/brainteacher.yaml"
    params:
        py=PY,
        dials=lambda w: dial_values(w.dials),
    shell:
        "{params.py} simulate --out {output:q} --preset {wildcards.preset} --seed {wildcards.seed}"
        " --image-signal {params.dials[image_signal]} --noise-scale {params.dials[noise_scale]} 2> {log:q}"


rule inspect_data:
    input:
        FILES.data_input,
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
        root=DATA_ROOT,
        rois=config["rois"],
    shell:
        "{params.py} inspect-data --root {params.root:q} --rois {params.rois:q} --out {output:q} > /dev/null 2> {log:q}"


if not FILES.simulated and config["data"].get("download", False):

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
