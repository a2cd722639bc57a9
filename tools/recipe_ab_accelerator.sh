#!/bin/bash
# The recipe's A/B screen (configs/recipe_ab.py) on one accelerator: for each
# seed, every arm trains at the same time (the shipped size leaves an accelerator
# mostly idle, and each run's forgeries are synthesized by its own workers on the
# host's cores), then tools/recipe_ab.py measures each run on the validation
# forgeries. A seed's round starts only if the previous round's duration still fits
# before DEADLINE_SECONDS; training stops MEASURE_SECONDS before it, and a run it
# stops commits its checkpoint and is measured at the step it reached (its JSON
# says which).
#
#   COMMIT=$(git rev-parse HEAD) bash tools/recipe_ab_accelerator.sh \
#       PHOTOS OUTPUT_DIR "baseline real_removals" "0 1" [--config.KEY=VALUE ...]
#
# PHOTOS is the collection's training folder (tools/gather_photos.py); the flags
# after the seeds go to every run. Each run's log and workdir are under RUNS_DIR.
set -u
photos=$1 out=$2 arms=$3 seeds=$4
shift 4
deadline=${DEADLINE_SECONDS:-86400}
runs=${RUNS_DIR:-/tmp/recipe_ab_runs}
workers=${WORKERS_PER_RUN:-2}
measuring=${MEASURE_SECONDS:-180}  # kept from training's time for the measurements
commit=${COMMIT:?the commit of this checkout, for the JSONs}
mkdir -p "$out" "$runs"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
# The JSONs' commit (ncl_jax/provenance.py): a copied tree may lack its git history.
export NCL_JAX_COMMIT=$commit
# Several processes share the accelerator: each takes memory as it needs it.
export XLA_PYTHON_CLIENT_PREALLOCATE=false
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-/tmp/recipe_ab_jax_cache}
python3 -c "import jax; print(jax.devices())" || exit 1

train_round() {  # seed, seconds left, flags
  local arm seed=$1 seconds=$2
  shift 2
  for arm in $arms; do
    # --foreground: the signal goes to the training process alone, which commits a
    # checkpoint and stops its workers; the whole group would kill its compiler too.
    timeout --foreground --signal=TERM --kill-after=60 "$seconds" python3 -m ncl_jax.main \
      --config="configs/recipe_ab.py:$arm" --workdir="$runs/${arm}_seed$seed" \
      --config.seed="$seed" --config.dataset.manual_dir="$photos" \
      --config.input.num_workers="$workers" "$@" >"$runs/${arm}_seed$seed.log" 2>&1 &
  done
  wait
}

measure_round() {  # seed
  local arm
  for arm in $arms; do
    python3 tools/recipe_ab.py --arm="$arm" --seed="$1" --workdir="$runs/${arm}_seed$1" \
      --trained_at="$commit" --output="$out/${arm}_seed$1.json" \
      >"$runs/${arm}_seed$1.measure.log" 2>&1 &
  done
  wait
}

start=$SECONDS
last=0
for seed in $seeds; do
  left=$((deadline - (SECONDS - start)))
  if ((last > left)); then
    echo "seed $seed: ${left}s left, a round took ${last}s: stopping"
    break
  fi
  round=$SECONDS
  train_round "$seed" "$((left > measuring + 60 ? left - measuring : 60))" "$@"
  measure_round "$seed"
  last=$((SECONDS - round))
  echo "seed $seed: round took ${last}s"
done
