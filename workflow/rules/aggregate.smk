# The run's record, tables and plots; cheap, so they run where Snakemake runs. aggregate and plots
# are given the run's provenance.json and refuse inputs of another dataset or config.


localrules:
    provenance,
    aggregate,
    plots,
    evaluation_plots,


rule provenance:
    input:
        FILES.data_input,
    output:
        FILES.provenance,
    log:
        in_run("logs/provenance.log"),
    benchmark:
        in_run("benchmarks/provenance.tsv")
    conda:
        "../envs/brainteacher.yaml"
    params:
        py=PY,
        root=DATA_ROOT,
        subjects=config["subjects"],
        run=RUN,
        config=CONFIG_JSON,
        config_name=CONFIG_NAME,
    shell:
        "{params.py} provenance --root {params.root:q} --subjects {params.subjects:q} --run {params.run:q}"
        " --config {params.config:q} --config-name {params.config_name:q} --out {output:q} 2> {log:q}"


rule aggregate:
    input:
        decode=FILES.decoded(["metrics.json"]),
        decoded=FILES.decoded(teacher_dir.READ_FILES),
        students=FILES.students(["metrics.json"]),
        predictions=FILES.students(FILES.prediction_names),
        provenance=FILES.provenance,
    output:
        decoders=report(
            in_run("tables/decoders.tsv"),
            caption="../report/decoders.rst",
            category="Tables",
        ),
        calibration=report(
            in_run("tables/calibration.tsv"),
            caption="../report/calibration.rst",
            category="Tables",
        ),
        students=report(
            in_run("tables/students.tsv"),
            caption="../report/students.rst",
            category="Tables",
        ),
        summary=report(
            in_run("tables/summary.tsv"),
            caption="../report/summary.rst",
            category="Tables",
        ),
    log:
        in_run("logs/aggregate.log"),
    benchmark:
        in_run("benchmarks/aggregate.tsv")
    conda:
        "../envs/brainteacher.yaml"
    params:
        py=PY,
        config=CONFIG_JSON,
        primary=[
            config["stats"][f"primary_{k}"] for k in ("teacher", "reference", "metric")
        ],
        out=subpath(output.decoders, parent=True),
    shell:
        "{params.py} aggregate --decode {input.decode:q} --students {input.students:q} --provenance {input.provenance:q}"
        " --config {params.config:q} --primary {params.primary:q} --out {params.out:q} 2> {log:q}"


rule plots:
    input:
        decoders=in_run("tables/decoders.tsv"),
        students=in_run("tables/students.tsv"),
        summary=in_run("tables/summary.tsv"),
        provenance=FILES.provenance,
    output:
        # Only the figures this config can fill (brainteacher.registry.roi_plots_for).
        **{
            plot: report(
                in_run(f"plots/{plot}.png"),
                caption=f"../report/{plot}.rst",
                category="Plots",
            )
            for plot in FILES.roi_plots
        },
        svg=expand(in_run("plots/{plot}.svg"), plot=FILES.roi_plots),
    log:
        in_run("logs/plots.log"),
    benchmark:
        in_run("benchmarks/plots.tsv")
    conda:
        "../envs/brainteacher.yaml"
    params:
        py=PY,
        tables=subpath(input.decoders, parent=True),
        out=subpath(output[0], parent=True),
        config=CONFIG_JSON,
        rois=config["rois"],
        note=config["report"]["note"],
        plots=FILES.roi_plots,
    shell:
        "{params.py} plot --tables {params.tables:q} --out {params.out:q} --provenance {input.provenance:q} --config {params.config:q}"
        " --rois {params.rois:q} --note {params.note:q} --plots {params.plots} 2> {log:q}"


rule evaluation_plots:
    input:
        students=in_run("tables/students.tsv"),
        predictions=FILES.students(FILES.prediction_names),
        data=FILES.data_input,
        compare=config["report"]["size_comparison"],
        provenance=FILES.provenance,
    output:
        size=report(
            in_run("plots/accuracy_vs_size.png"),
            caption="../report/accuracy_vs_size.rst",
            category="Plots",
        ),
        confusion=report(
            in_run("plots/confusion_matrices.png"),
            caption="../report/confusion_matrices.rst",
            category="Plots",
        ),
        pr=report(
            in_run("plots/pr_curves.png"),
            caption="../report/pr_curves.rst",
            category="Plots",
        ),
        svg=expand(in_run("plots/{plot}.svg"), plot=EVALUATION_PLOTS),
    log:
        in_run("logs/evaluation_plots.log"),
    benchmark:
        in_run("benchmarks/evaluation_plots.tsv")
    conda:
        "../envs/brainteacher.yaml"
    params:
        py=PY,
        tables=subpath(input.students, parent=True),
        out=subpath(output.size, parent=True),
        config=CONFIG_JSON,
        note=config["report"]["note"],
        truth=FILES.ground_truth_option(),
    shell:
        "{params.py} plot-evaluation --tables {params.tables:q} --out {params.out:q} {params.truth} --compare {input.compare:q}"
        " --provenance {input.provenance:q} --config {params.config:q} --note {params.note:q} 2> {log:q}"


# The run's last words: the positive-control verdict, the conclusion and where the outputs are.
# `make run` prints them itself after building the report, so it turns this one off.
onsuccess:
    import os
    from brainteacher.runs import end_of_run_summary

    if os.environ.get("BRAINTEACHER_END_SUMMARY", "1") != "0":
        print(end_of_run_summary(f"results/{RUN}"))
