#!/usr/bin/env bash
# The GPU checks as one prepared call, for a session lent a GPU (the device tool's `run`, from the
# repository root; about 5 minutes on one H100 or H200, so a 600 s limit leaves room to rerun):
#   bash bench/gpu_check.sh
# Runs on the device image's python3 (torch with CUDA, numpy, pandas, pytest; these steps need
# neither bdpy nor snakemake) with this checkout on PYTHONPATH, and writes into $OUT:
#   device.txt      torch's version and the card
#   tests.txt       tests/test_cuda.py: decoder folds and a student cohort grouped on the card
#   decode.txt      bench/cohort.py decode: one GOD-scale decode job, folds separate vs grouped
#   throughput.txt  bench/cohort.py throughput: student images/s at 64 px, width 16, by cohort size
# Then quote the figures in docs/benchmarks.md (Cohorts and what a config costs) with the card's name.
set -uo pipefail
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
out=${OUT:-bench/out/gpu}
mkdir -p "$out"
python3 -c 'import torch; print(torch.__version__, torch.cuda.get_device_name(0))' | tee "$out/device.txt"
python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py 2>&1 | tail -20 | tee "$out/tests.txt"
python3 bench/cohort.py decode --device cuda --layouts separate,grouped 2>&1 | grep -v '^[0-9:]* brainteacher' | tee "$out/decode.txt"
python3 bench/cohort.py throughput --device cuda --size 64 --width 16 --members 1,32,64 --layouts grouped 2>&1 \
  | grep -v '^[0-9:]* brainteacher' | tee "$out/throughput.txt"
