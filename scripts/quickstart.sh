#!/usr/bin/env bash
# Quickstart on the embedded corpus (data/pydoc-topics: English prose of the Python Language Reference, PSF
# licence): binarise it, train fairseq's transformer LM and each plugin LM at the same small size for a few CPU
# minutes, print their validation and test perplexities side by side, and continue a prompt with incremental
# decoding. Idempotent: a second run reuses the environment, the binarised data and finished checkpoints.
#
#   bash scripts/quickstart.sh                 # all models, QUICKSTART_UPDATES updates each (default 300)
#   MODELS="transformer abc_mlp" bash scripts/quickstart.sh   # names from memattn_fairseq/model_list.py
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup_env.sh"
venv="${MEMATTN_VENV:-$root/.venv}"
export PATH="$venv/bin:$PATH" PYTHONWARNINGS=ignore
cd "$root"

work="${QUICKSTART_DIR:-runs/quickstart}"
updates="${QUICKSTART_UPDATES:-300}"
data="$work/data-bin"
say() { printf '\n[quickstart] %s\n' "$*"; }
# fairseq logs to stdout, which goes to the log file and, filtered to the training loss and each validation, to
# the screen; its progress bar goes to stderr, so a terminal shows it (a log or CI gets plain lines instead)
progress() { grep --line-buffered -E '\| (train_inner|valid) \||valid on|Error|error:' || true; }

model_list() { python memattn_fairseq/model_list.py "$@"; }  # the models every tool knows
models="${MODELS:-$(model_list names lm)}"
for model in $models; do model_list flags "$model" >/dev/null || exit 2; done  # an unknown name: one line, stop

if [ ! -f "$data/dict.txt" ]; then
  say "binarising data/pydoc-topics into $data"
  fairseq-preprocess --only-source --trainpref data/pydoc-topics/train.txt --validpref data/pydoc-topics/valid.txt \
    --testpref data/pydoc-topics/test.txt --destdir "$data" --thresholdsrc 2 --workers 2 2>&1 | grep -E 'sents|Wrote'
fi

size=(--decoder-layers 2 --decoder-embed-dim 128 --decoder-ffn-embed-dim 512 --decoder-attention-heads 4
      --share-decoder-input-output-embed --dropout 0.1)
optim=(--optimizer adam --adam-betas '(0.9,0.98)' --lr 0.002 --lr-scheduler inverse_sqrt --warmup-updates 50
       --clip-norm 1.0 --max-tokens 2048 --tokens-per-sample 128 --max-update "$updates" --cpu --seed 1
       --log-interval 50 --no-epoch-checkpoints --num-workers 0)

mkdir -p "$work/checkpoints"
declare -A valid_ppl test_ppl params
for model in $models; do
  save="$work/checkpoints/$model"
  if grep -q "done training" "$save.train.log" 2>/dev/null && [ -f "$save/checkpoint_best.pt" ]; then
    say "reusing $save (delete it to retrain)"
  else
    say "training $model ($updates updates on the CPU) -> $save"
    # shellcheck disable=SC2046
    fairseq-train "$data" --user-dir memattn_fairseq $(model_list flags "$model" --slots 32) "${size[@]}" "${optim[@]}" \
      --save-dir "$save" | tee "$save.train.log" | progress
  fi
  params[$model]=$(grep -oE 'shared model params: [0-9,]+' "$save.train.log" | tail -1 | grep -oE '[0-9,]+$' || echo "?")
  for split in valid test; do
    # shellcheck disable=SC2046
    ppl=$(fairseq-eval-lm "$data" --user-dir memattn_fairseq --path "$save/checkpoint_best.pt" --gen-subset "$split" \
            --tokens-per-sample 128 --max-tokens 2048 --cpu $(model_list eval-flags "$model") \
            2>&1 | grep -oE 'Perplexity: [0-9.]+' | grep -oE '[0-9.]+$' || echo "n/a")
    if [ "$split" = valid ]; then valid_ppl[$model]=$ppl; else test_ppl[$model]=$ppl; fi
  done
done

say "perplexity after $updates updates (2 decoder layers x 128, 128-token blocks, same data, same optimiser)"
echo "Every model but memformer scores each 128-token block on its own; memformer carries its memory across"
echo "blocks, over the whole split as one stream (its encoder adds 1 layer)."
printf '\n| %-18s | %10s | %10s | %10s |\n|%s|%s|%s|%s|\n' model params "valid ppl" "test ppl" \
  "--------------------" "------------" "------------" "------------"
for model in $models; do
  printf '| %-18s | %10s | %10s | %10s |\n' "$model" "${params[$model]}" "${valid_ppl[$model]}" "${test_ppl[$model]}"
done

prompt="${QUICKSTART_PROMPT:-The assert statement}"
generator="${QUICKSTART_GENERATOR:-abc_mlp}"
if [ -f "$work/checkpoints/$generator/checkpoint_best.pt" ]; then
  say "continuing \"$prompt\" with $generator (beam 4, incremental decoding: constant-size state per layer)"
  echo "$prompt" | fairseq-interactive "$data" --task language_modeling --user-dir memattn_fairseq \
    --path "$work/checkpoints/$generator/checkpoint_best.pt" --beam 4 --max-len-b 40 --min-len 20 --cpu \
    --no-repeat-ngram-size 3 2>/dev/null | grep -E '^H-' | cut -f3
fi
