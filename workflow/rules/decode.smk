# Brain decoders: one job per decoder x subject x ROI x split, each cross-fitted inside the
# split's training images (the student's test images never reach a teacher).


rule make_splits:
    input:
        FILES.data_input,
    output:
        expand(in_run("splits/split{k}.json"), k=range(config["splits"]["n_splits"])),
    log:
        in_run("logs/make_splits.log"),
    benchmark:
        in_run("benchmarks/make_splits.tsv")
    conda:
        "../envs/brainteacher.yaml"
    params:
        py=PY,
        root=DATA_ROOT,
        out=subpath(output[0], parent=True),
        options=workflow_options("make-splits", config),
    shell:
        "{params.py} make-splits --root {params.root:q} --out {params.out:q} {params.options} 2> {log:q}"


rule decode:
    input:
        data=FILES.data_input,
        split=in_run("splits/split{split}.json"),
    output:
        files=expand(
            in_run("decode/{{decoder}}/{{subject}}/{{roi}}/split{{split}}/{name}"),
            name=teacher_dir.ARRAYS,
        ),
        metrics=in_run("decode/{decoder}/{subject}/{roi}/split{split}/metrics.json"),
    log:
        in_run("logs/decode/{decoder}/{subject}/{roi}/split{split}.log"),
    benchmark:
        in_run("benchmarks/decode/{decoder}/{subject}/{roi}/split{split}.tsv")
    conda:
        "../envs/brainteacher.yaml"
    threads: 1
    # Unlimited unless snakemake is given --resources gpu_share=N; then at most N training jobs share the card(s).
    resources:
        gpu_share=1,
    params:
        py=PY,
        root=DATA_ROOT,
        out=subpath(output.metrics, parent=True),
        options=workflow_options("decode", config),
    shell:
        "OMP_NUM_THREADS={threads} {params.py} decode --root {params.root:q} --subject {wildcards.subject} --roi {wildcards.roi}"
        " --split {input.split:q} --decoder {wildcards.decoder} --out {params.out:q} {params.options} 2> {log:q}"
