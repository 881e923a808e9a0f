# Tables and plots from every decoder and student; cheap, so they run where Snakemake runs.


localrules:
    aggregate,
    plots,
    evaluation_plots,


rule aggregate:
    input:
        decode=decoded_metrics(),
        students=student_metrics(),
        predictions=student_predictions(),
    output:
        decoders=report("results/tables/decoders.tsv", caption="../report/decoders.rst", category="Tables"),
        students=report("results/tables/students.tsv", caption="../report/students.rst", category="Tables"),
        summary=report("results/tables/summary.tsv", caption="../report/summary.rst", category="Tables"),
    params:
        py=PY,
        config=json.dumps(config, sort_keys=True),
        primary=[config["stats"][f"primary_{k}"] for k in ("teacher", "reference", "metric")],
    conda:
        "../envs/brainteacher.yaml"
    log:
        "results/logs/aggregate.log",
    benchmark:
        "results/benchmarks/aggregate.tsv"
    shell:
        "{params.py} aggregate --decode {input.decode:q} --students {input.students:q} --config {params.config:q}"
        " --primary {params.primary:q} --out results/tables 2> {log:q}"


rule plots:
    input:
        decoders="results/tables/decoders.tsv",
        students="results/tables/students.tsv",
        summary="results/tables/summary.tsv",
    output:
        roi=report("results/plots/roi_comparison.png", caption="../report/roi_comparison.rst", category="Plots"),
        decoders=report("results/plots/decoder_accuracy.png", caption="../report/decoder_accuracy.rst", category="Plots"),
        gain=report("results/plots/decoder_vs_gain.png", caption="../report/decoder_vs_gain.rst", category="Plots"),
        svg=expand("results/plots/{plot}.svg", plot=PLOTS),
    params:
        py=PY,
        rois=config["rois"],
        note=config["report"]["note"],
    conda:
        "../envs/brainteacher.yaml"
    log:
        "results/logs/plots.log",
    benchmark:
        "results/benchmarks/plots.tsv"
    shell:
        "{params.py} plot --tables results/tables --out results/plots --rois {params.rois:q} --note {params.note:q} 2> {log:q}"


rule evaluation_plots:
    input:
        students="results/tables/students.tsv",
        predictions=student_predictions(),
        data=data_input,
        compare=config["report"]["size_comparison"],
    output:
        size=report("results/plots/accuracy_vs_size.png", caption="../report/accuracy_vs_size.rst", category="Plots"),
        confusion=report("results/plots/confusion_matrices.png", caption="../report/confusion_matrices.rst", category="Plots"),
        pr=report("results/plots/pr_curves.png", caption="../report/pr_curves.rst", category="Plots"),
        svg=expand("results/plots/{plot}.svg", plot=EVALUATION_PLOTS),
    params:
        py=PY,
        note=config["report"]["note"],
        truth=ground_truth_option(),
    conda:
        "../envs/brainteacher.yaml"
    log:
        "results/logs/evaluation_plots.log",
    benchmark:
        "results/benchmarks/evaluation_plots.tsv"
    shell:
        "{params.py} plot-evaluation --tables results/tables --out results/plots {params.truth} --compare {input.compare:q}"
        " --note {params.note:q} 2> {log:q}"
