#!/usr/bin/env bash
# Rebuilds the released backbone models/ssrlm-8m (SSM pre-training of ssrlm-8m on a small corpus) and
# the first pair model built on it, models/ssrlm-8m-ss (three bpRNA TR0 fine-tuning stages; VL0 picks
# checkpoints, threshold and post-processing; no longer shipped: its head capped every probability at
# 0.49, and scripts/train_hybrid_ss.sh builds the model that replaced it), with the evaluation against
# ViennaRNA, the recipe records and the generated model cards.
# Measured on a shared 2-core CPU: about 35 minutes of training in all.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}

python data_scripts/build_ss_datasets.py --data-dir "$DATA" --out runs/ss_datasets --write-fasta
python data_scripts/prepare_pretraining.py --ncrna "$DATA/rfam/rfam14.9_seed_ungapped.fa.gz" \
  --other "$DATA/non_ncrna/non_ncrna_cds_transcripts.fa.gz" --exclude runs/ss_datasets/fasta/bprna_TS0.fa \
  --limit 3000 --workers 2 --out runs/corpus_small
python train_mlm.py --dataset_dir runs/corpus_small --preset ssrlm-8m --masking ssm --ncrna_fraction 0.5 \
  --ssm_probability 0.5 --pack_to_length 1024 --max_length 1024 --per_device_train_batch_size 2 --max_steps 180 \
  --learning_rate 1e-3 --weight_decay 0.01 --warmup_steps 20 --validation_fraction 0.01 --eval_strategy steps \
  --eval_steps 60 --logging_steps 10 --save_steps 60 --save_total_limit 2 --seed 42 --report_to none \
  --output_dir runs/pretrain_8m_ssm

finetune() {  # $1 init flag, $2 init path, $3 lr, $4 steps, $5 seed, $6 out, $7 extra overrides
  python finetune_ss.py "$1" "$2" --data_root runs/ss_datasets --train_split bprna/TR0 --eval_split bprna/VL0 \
    --max_eval_samples 150 --config_overrides "$7" --per_device_train_batch_size 2 --learning_rate "$3" \
    --weight_decay 0.01 --lr_scheduler_type cosine --warmup_steps 20 --max_steps "$4" --eval_strategy steps \
    --eval_steps $(($4 / 2)) --save_strategy steps --save_steps $(($4 / 2)) --save_total_limit 2 --logging_steps 50 \
    --seed "$5" --report_to none --output_dir "$6"
}
finetune --backbone runs/pretrain_8m_ssm 5e-4 1000 0 runs/ship/ssrlm-8m-ss-bprna pair_pos_weight=5
finetune --init_from runs/ship/ssrlm-8m-ss-bprna 3e-4 700 1 runs/ship/ssrlm-8m-ss-bprna-stage2 pair_pos_weight=5
finetune --init_from runs/ship/ssrlm-8m-ss-bprna-stage2 2e-4 1400 2 runs/ship/ssrlm-8m-ss-bprna-stage3 pair_canonical_only=True

python benchmarks/eval_ss.py --model runs/ship/ssrlm-8m-ss-bprna-stage3 --splits bprna/VL0 bprna/TS0 \
  --data-root runs/ss_datasets --out runs/ship/eval_bprna
python scripts/export_shipped_model.py runs/pretrain_8m_ssm models/ssrlm-8m
python scripts/export_shipped_model.py runs/ship/ssrlm-8m-ss-bprna-stage3 models/ssrlm-8m-ss \
  --eval runs/ship/eval_bprna/eval.json
