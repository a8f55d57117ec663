#!/usr/bin/env bash
# PDB fine-tuning of the shipped bpRNA model (SPOT-RNA PDB TR1, VL1 for checkpoint and threshold)
# and its evaluation on SPOT-RNA PDB TS1/TS2 against ViennaRNA. Needs runs/ss_datasets
# (python data_scripts/build_ss_datasets.py --out runs/ss_datasets --write-fasta).
set -euo pipefail
cd "$(dirname "$0")/.."
python finetune_ss.py --init_from models/ssrlm-8m-ss --data_root runs/ss_datasets \
  --train_split spot_rna_pdb/TR1 --eval_split spot_rna_pdb/VL1 --max_length 200 \
  --per_device_train_batch_size 2 --learning_rate 2e-4 --weight_decay 0.01 --lr_scheduler_type cosine --warmup_steps 10 \
  --max_steps 200 --eval_strategy steps --eval_steps 100 --save_strategy steps --save_steps 100 --save_total_limit 2 \
  --logging_steps 20 --seed 0 --report_to none --output_dir runs/ship/ssrlm-8m-ss-pdb
python benchmarks/eval_ss.py --model runs/ship/ssrlm-8m-ss-pdb --splits spot_rna_pdb/TS1 spot_rna_pdb/TS2 \
  --data-root runs/ss_datasets --out runs/ship/eval_pdb --timing-lengths
