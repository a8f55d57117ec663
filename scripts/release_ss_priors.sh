#!/usr/bin/env bash
# Release of the default pair model (issue 10) after scripts/train_hybrid_ss.sh,
# scripts/train_hybrid_ss_stage3.sh and scripts/train_hybrid_ss_stage4.sh (the stage-3 release was made
# by this script with RUN=runs/hybrid/stage3 PREVIOUS=runs/hybrid/previous_release). Validation only
# (bpRNA VL0 + PDB VL1 + RNA3DB-2D valid, 636 sequences): the decoder among ViennaRNA MFE / MEA with
# soft constraints and threshold decoding, its threshold, canonical pairs only in decoded structures
# (training labels hold almost no non-canonical pair), calibration, the candidate against the release it
# continues (paired over the validation sequences) and the repeat artefact
# (benchmarks/noncanonical_signal.py). Report (test splits used once): the release beside the previous
# one, ViennaRNA computed in the run and the stored CONTRAfold / EternaFold / MXfold2 predictions; then
# the export.
set -euo pipefail  # usage: $0 [all|valid|test|export]
cd "$(dirname "$0")/.."
RUN=${RUN:-runs/hybrid/stage4}
OUT=${OUT:-runs/hybrid/release4}
PREVIOUS=${PREVIOUS:-runs/hybrid/stage3_release}  # the release stage 4 continued (its script keeps this copy)
STAGE_SCRIPT=${STAGE_SCRIPT:-scripts/train_hybrid_ss_stage4.sh}
VALID=(bprna/VL0 spot_rna_pdb/VL1 rna3db_2d/valid)
COMMON=(--data-root runs/ss_all --prior-cache-dir runs/hybrid/eval_prior_cache)
mkdir -p "$OUT"

if [[ "${1:-all}" =~ ^(all|valid)$ ]]; then
  python scripts/choose_decoder_threshold.py "$RUN" --decoder vienna_mfe vienna_mea threshold --canonical-only \
    --splits "${VALID[@]}" --prior-cache-dir runs/hybrid/eval_prior_cache | tee "$OUT/choose_decoder.json"
  python benchmarks/calibration.py --model "$RUN" --splits "${VALID[@]}" --data-root runs/ss_all --out "$OUT/calibration"
  # the candidate against the release it continues, paired over the validation sequences; the repeat artefact
  python benchmarks/eval_ss.py --model new="$RUN" --model previous="$PREVIOUS" "${COMMON[@]}" --splits "${VALID[@]}" \
    --timing-lengths --compare new previous --out "$OUT/valid_vs_previous"
  python benchmarks/noncanonical_signal.py --model new="$RUN" --model previous="$PREVIOUS" --splits spot_rna_pdb/VL1 \
    rna3db_2d/valid --prior-cache-dir runs/hybrid/eval_prior_cache --out "$OUT/noncanonical_signal.md"
fi
if [[ "${1:-all}" =~ ^(all|test)$ ]]; then
  FAMILIES=()
  for family in 16s 23s 5s RNaseP grp1 srp tRNA telomerase tmRNA; do
    FAMILIES+=("archiveii_famfold/${family}_test@600%15")
  done
  python benchmarks/eval_ss.py --model ssrlm-ss-priors="$RUN" --model previous="$PREVIOUS" "${COMMON[@]}" \
    --timing-lengths 100 500 --timing-repeats 3 \
    --splits bprna/TS0 spot_rna_pdb/TS1 spot_rna_pdb/TS2 squarna/TS1reducedWC "archiveii/all[archiveii_sub200]" \
    "${FAMILIES[@]}" --identity-to bprna/TR0,spot_rna_pdb/TR1,rna3db_2d/train,rfam_ss/train --threads 1 \
    --out "$OUT/eval_test"
fi
NONCANONICAL="It predicts no non-canonical pair: its decoder is canonical-only, and its training labels hold almost none \
(Rfam projections and RNA3DB-2D are canonical; SPOT-RNA PDB TR1 has 904)."
if [[ "${1:-all}" =~ ^(all|export)$ ]]; then
  # the last stage was initialised from models/ssrlm-ss-priors as then released; the export follows that path for the
  # earlier stages' recipe, so the folder must hold that release's recipe.json (not this one's, after a re-export)
  cmp -s "$PREVIOUS/recipe.json" models/ssrlm-ss-priors/recipe.json || cp "$PREVIOUS/recipe.json" models/ssrlm-ss-priors/recipe.json
  python scripts/export_shipped_model.py "$RUN" models/ssrlm-ss-priors --eval "$OUT/eval_test/eval.json" \
    --calibration "$OUT/calibration/calibration.json" \
    --command "bash $STAGE_SCRIPT && bash scripts/release_ss_priors.sh" \
    --limitation "$NONCANONICAL"
fi
