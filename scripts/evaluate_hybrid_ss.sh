#!/usr/bin/env bash
# Issue 10's table. Stage 1 (choices, validation only): each model under each decoder on bpRNA VL0,
# PDB VL1 and RNA3DB-2D valid, plus calibration. Stage 2 (report, test splits used once): the same
# models and decoders, ViennaRNA computed in the run and the stored CONTRAfold / EternaFold / MXfold2
# predictions, on bpRNA TS0, PDB TS1 / TS2, TS1reducedWC, the 200 ArchiveII records MXfold2 was run
# on (unique, <= 600 nt) and a seeded 30-record sample of each ArchiveII family-fold test family
# (<= 600 nt), with F1 by identity to the training data.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/hybrid}
MODELS=(--model prior_only="$OUT/prior_only" --model lm_prior="$OUT/lm_prior" --model lm_only=models/ssrlm-8m-ss)
DECODERS=(--decoders threshold vienna_mfe vienna_mea vienna_mfe+any)
COMMON=(--data-root runs/ss_all --prior-cache-dir "$OUT/eval_prior_cache")

if [ "${1:-all}" != test ]; then
  python benchmarks/eval_ss.py "${MODELS[@]}" "${DECODERS[@]}" "${COMMON[@]}" --timing-lengths \
    --splits bprna/VL0 spot_rna_pdb/VL1 rna3db_2d/valid --out "$OUT/eval_valid"
  for model in prior_only lm_prior; do
    python benchmarks/calibration.py --model "$OUT/$model" --splits bprna/VL0 spot_rna_pdb/VL1 rna3db_2d/valid \
      --data-root runs/ss_all --out "$OUT/calibration_$model"
  done
fi
if [ "${1:-all}" != valid ]; then
  FAMILIES=()
  for family in 16s 23s 5s RNaseP grp1 srp tRNA telomerase tmRNA; do
    FAMILIES+=("archiveii_famfold/${family}_test@600%30")
  done
  python benchmarks/eval_ss.py "${MODELS[@]}" "${DECODERS[@]}" "${COMMON[@]}" --timing-lengths 100 500 1000 \
    --splits bprna/TS0 spot_rna_pdb/TS1 spot_rna_pdb/TS2 squarna/TS1reducedWC "archiveii/all[archiveii_sub200]" \
    "${FAMILIES[@]}" --identity-to bprna/TR0,spot_rna_pdb/TR1,rna3db_2d/train,rfam_ss/train --threads 2 \
    --out "$OUT/eval_test"
fi
