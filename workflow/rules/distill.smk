# Students: one job per cohort (students.cohort: every student of a split, of a split and seed, or
# one student), each student in its own folder. Teachers are built from the split's training images
# only (decoders and the network teacher are cross-fitted inside them).


rule cache_images:
    input:
        FILES.data_input,
    output:
        FILES.image_cache,
    log:
        in_run("logs/cache_images.log"),
    benchmark:
        in_run("benchmarks/cache_images.tsv")
    conda:
        "../envs/brainteacher.yaml"
    params:
        py=PY,
        root=DATA_ROOT,
        size=STUDENTS["image_size"],
    shell:
        "{params.py} cache-images --root {params.root:q} --size {params.size} --out {output:q} 2> {log:q}"


rule network_teacher:
    input:
        data=FILES.data_input,
        split=in_run("splits/split{split}.json"),
        images=FILES.image_cache,
    output:
        metrics=in_run("network/split{split}/metrics.json"),
        files=expand(
            in_run("network/split{{split}}/{name}"),
            name=[*teacher_dir.READ_FILES, *FILES.network_model_files],
        ),
    log:
        in_run("logs/network_teacher/split{split}.log"),
    benchmark:
        in_run("benchmarks/network_teacher/split{split}.tsv")
    conda:
        "../envs/brainteacher.yaml"
    threads: 1
    resources:
        gpu_share=1,
    params:
        py=PY,
        root=DATA_ROOT,
        out=subpath(output.metrics, parent=True),
        options=workflow_options("network-teacher", config),
    shell:
        "OMP_NUM_THREADS={threads} {params.py} network-teacher --root {params.root:q} --split {input.split:q}"
        " --image-cache {input.images:q} --out {params.out:q} {params.options} 2> {log:q}"


rule distill:
    input:
        data=FILES.data_input,
        split=in_run("splits/split{split}.json"),
        images=FILES.image_cache,
        teacher=FILES.teacher_files,
        init=FILES.init_files,
    output:
        metrics=FILES.cohort_outputs("metrics.json"),
        predictions=[
            f for name in FILES.prediction_names for f in FILES.cohort_outputs(name)
        ],
        model=FILES.cohort_outputs("model.pt"),
    log:
        in_run(f"logs/distill/{FILES.cohort_job}.log"),
    benchmark:
        in_run(f"benchmarks/distill/{FILES.cohort_job}.tsv")
    conda:
        "../envs/brainteacher.yaml"
    threads: 1
    resources:
        gpu_share=1,
        mem_mb=lambda wildcards: 1500 + 100 * FILES.cohort_size(wildcards),
    params:
        py=PY,
        root=DATA_ROOT,
        members=FILES.member_options,
        decoder=STUDENTS["teacher_decoder"],
        options=FILES.student_options,
    shell:
        "OMP_NUM_THREADS={threads} {params.py} distill-cohort --root {params.root:q} --split {input.split:q} --image-cache {input.images:q}"
        " --decoder {params.decoder:q} {params.members} {params.options} 2> {log:q}"


rule pretrain_simclr:
    input:
        data=FILES.data_input,
        split=in_run("splits/split{split}.json"),
        images=FILES.image_cache,
    output:
        backbone=in_run("simclr/split{split}/backbone.pt"),
        metrics=in_run("simclr/split{split}/metrics.json"),
    log:
        in_run("logs/pretrain_simclr/split{split}.log"),
    benchmark:
        in_run("benchmarks/pretrain_simclr/split{split}.tsv")
    conda:
        "../envs/brainteacher.yaml"
    threads: 1
    resources:
        gpu_share=1,
    params:
        py=PY,
        root=DATA_ROOT,
        out=subpath(output.backbone, parent=True),
        options=workflow_options("pretrain-simclr", config),
    shell:
        "OMP_NUM_THREADS={threads} {params.py} pretrain-simclr --root {params.root:q} --split {input.split:q}"
        " --image-cache {input.images:q} --out {params.out:q} {params.options} 2> {log:q}"
