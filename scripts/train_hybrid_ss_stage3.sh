#!/usr/bin/env bash
# Stage 3 of the thermodynamic-prior pair model (after scripts/train_hybrid_ss.sh): continue the
# released linear-read-out model on the same mix with twice the Rfam sample (16,000 seeded records:
# the first 8,000 are stage 1-2's), 1,600 steps, lower learning rate. Validation (bpRNA VL0, PDB VL1,
# RNA3DB-2D valid) picks the checkpoint; test splits are not read.
set -euo pipefail
cd "$(dirname "$0")/.."
INIT=${INIT:-models/ssrlm-ss-priors}
OUT=${OUT:-runs/hybrid/stage3}
# a copy of the release this stage continues: the previous row of scripts/release_ss_priors.sh, and the
# recipe its export reads for the earlier stages once the folder holds the new release
[ -d runs/hybrid/previous_release ] || cp -r "$INIT" runs/hybrid/previous_release
OMP_NUM_THREADS=1 python finetune_ss.py --init_from "$INIT" --data_root runs/ss_all \
  --train_split bprna/TR0,spot_rna_pdb/TR1,rna3db_2d/train,rfam_ss/train --sample_per_split 16000 --max_length 400 \
  --exclude_similar_to runs/ss_all/fasta/*.fa --mmseqs_threads 1 \
  --eval_split bprna/VL0,spot_rna_pdb/VL1,rna3db_2d/valid --prior_workers 1 \
  --per_device_train_batch_size 4 --per_device_eval_batch_size 8 --learning_rate 3e-4 --weight_decay 0.01 \
  --lr_scheduler_type cosine --warmup_steps 100 --max_steps 1600 --eval_strategy steps --eval_steps 400 \
  --save_strategy steps --save_steps 400 --save_total_limit 2 --logging_steps 100 --seed 42 --report_to none \
  --dataloader_pin_memory false --disable_tqdm true --output_dir "$OUT"
