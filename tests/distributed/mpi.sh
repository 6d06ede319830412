#!/usr/bin/env bash
# dist.*: data-parallel training under `mpirun -np 2 --oversubscribe` on the CPU, against one
# process (tests/distributed/distributed_check.cpp; docs/DISTRIBUTED.md).
#   mpi.sh CHECK MPIEXEC WORK equal seed|two_heads adam|sgd | evaluate | batchnorm | buckets |
#          throw | standin | emulated_nccl
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
  evaluate)
    # The test set shared by 2 ranks, reduced: 1001 images (500 and 501 per rank, each rank's last
    # batch partial) and 1 image (rank 0 has none); every rank returns the same scores, equal to
    # one process's (accuracies exactly, losses to 1e-6).
    for model in seed two_heads; do
      for n in 1001 1; do
        one="$WORK/evaluate.$model.$n.one" two="$WORK/evaluate.$model.$n.two"
        "$CHECK" evaluate "$model" "$n" 128 "$one"
        mpirun2 "$CHECK" evaluate "$model" "$n" 128 "$two"
        cmp "$two.0" "$two.1" || { echo "FAIL: the ranks' scores differ"; exit 1; }
        "$CHECK" scores "$one.0" "$two.0" 1e-6
      done
    done
    ;;
  batchnorm)
    # Note [Moving statistics]: averaged over the ranks, the same on every rank (bit for bit), and
    # the input BatchNormalization's what the rule predicts from the data.
    "$CHECK" batchnorm "$WORK/batchnorm.one"
    mpirun2 "$CHECK" batchnorm "$WORK/batchnorm.two"
    cmp "$WORK/batchnorm.two.0" "$WORK/batchnorm.two.1" ||
      { echo "FAIL: the ranks' moving statistics differ"; exit 1; }
    echo "ok: every rank holds the same moving statistics"
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
  standin)
    KILN_CUDA_EMULATION_DEVICES=2 mpirun2 "$CHECK" standin
    ;;
  emulated_nccl)
    # cuda/nccl_comm.cpp on the emulated GPU, through the emulation's NCCL stand-in (MPI
    # underneath): 2 ranks, each on its own emulated GPU (cuda:local_rank), and 1 rank without
    # mpirun (KILN_DISTRIBUTED=one: a communicator of one), against one process on the CPU, SGD,
    # the same global batch. Small: the emulation computes every kernel thread by thread.
    export KILN_TF32=0 KILN_CHECK_BATCH=32 KILN_CHECK_STEPS=3 KILN_CUDA_EMULATION_DEVICES=2
    tolerance=${KILN_EMULATED_TOLERANCE:-1e-6}
    KILN_CHECK_DEVICE=cpu "$CHECK" train seed sgd "$WORK/emulated.cpu"
    KILN_CHECK_DEVICE=rank mpirun2 "$CHECK" train seed sgd "$WORK/emulated.two"
    KILN_DISTRIBUTED=one KILN_CHECK_DEVICE=cuda "$CHECK" train seed sgd "$WORK/emulated.one"
    "$CHECK" compare "$WORK/emulated.cpu" "$WORK/emulated.two" "$tolerance"
    "$CHECK" compare "$WORK/emulated.cpu" "$WORK/emulated.one" "$tolerance"
    ;;
  *) echo "unknown mode $MODE"; exit 2 ;;
esac
