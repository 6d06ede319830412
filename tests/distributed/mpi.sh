#!/usr/bin/env bash
# dist.*: data-parallel training under `mpirun -np 2 --oversubscribe` on the CPU, against one
# process (tests/distributed/distributed_check.cpp; docs/DISTRIBUTED.md).
#   mpi.sh CHECK MPIEXEC WORK equal seed|two_heads | buckets | throw
set -euo pipefail
CHECK=$1 MPIEXEC=$2 WORK=$3 MODE=$4
mkdir -p "$WORK"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
# One thread per rank, as two ranks on this machine's cores would have; the single process the
# same, so that the comparison is of the data-parallel arithmetic alone.
export OMP_NUM_THREADS=1
mpirun2() { "$MPIEXEC" -np 2 --oversubscribe --bind-to none "$@"; }

case "$MODE" in
  equal)
    model=$5 optimizer=$6
    "$CHECK" train "$model" "$optimizer" "$WORK/$model.$optimizer.one"
    mpirun2 "$CHECK" train "$model" "$optimizer" "$WORK/$model.$optimizer.two"
    "$CHECK" compare "$WORK/$model.$optimizer.one" "$WORK/$model.$optimizer.two" 1e-6
    ;;
  buckets)
    mpirun2 "$CHECK" buckets
    ;;
  throw)
    start=$(date +%s)
    set +e
    timeout 60 "$MPIEXEC" -np 2 --oversubscribe --bind-to none "$CHECK" throw >"$WORK/throw.log" 2>&1
    status=$?
    set -e
    took=$(( $(date +%s) - start ))
    cat "$WORK/throw.log"
    [[ $status -ne 0 && $status -ne 124 ]] || { echo "FAIL: exit status $status (124: a hang)"; exit 1; }
    grep -q "kiln: rank 1: rank 1 fails on purpose at step 2" "$WORK/throw.log" ||
      { echo "FAIL: the failing rank's message is missing"; exit 1; }
    ! grep -q "fit finished" "$WORK/throw.log" || { echo "FAIL: a rank finished fit"; exit 1; }
    (( took <= 20 )) || { echo "FAIL: took ${took}s to stop"; exit 1; }
    echo "ok: every rank stopped (mpirun exit status $status) in ${took}s with rank 1's message"
    ;;
  *) echo "unknown mode $MODE"; exit 2 ;;
esac
