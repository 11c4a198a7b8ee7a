#!/usr/bin/env bash
# One call on a lent GPU machine (15 minutes of device time, no network, no pooch or gensim):
# the CUDA-marked tests, then bench/gpu_check.py (HBM copy bandwidth, both torch kernels'
# throughput against the bound it sets, parity with numba on the shared corpus). Writes
# $OUT/gpu_check.json, $OUT/cuda_tests.xml and $OUT/gpu_check.log; about 5 minutes there.
#
#   device run:  MT2ST_DATA_DIR=.device_data bash bench/gpu_check.sh      (carry .device_data)
#   here (CPU):  OUT=/tmp/g MT2ST_GPU_CHECK_ARGS="--device cpu --profile smoke" bash bench/gpu_check.sh
#
# The project is imported from this tree (PYTHONPATH), never installed. Without a GPU the CUDA
# tests skip and the JSON says which sections were skipped and why. Exit status: the worse of
# the tests' and the check's.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu_check_out}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-/tmp/mt2st_numba_cache}"  # not under $OUT: 8 files come back
log="$OUT/gpu_check.log"
{
    echo "[gpu_check] $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(hostname); MT2ST_DATA_DIR=${MT2ST_DATA_DIR:-unset}"
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    # the test files that hold CUDA-marked tests: collecting the others would import what the
    # lent machine lacks (gensim, dask) for tests that cannot run there anyway
    mapfile -t files < <(grep -l "pytest.mark.cuda" tests/test_*.py)
    echo "[gpu_check] CUDA tests in: ${files[*]}"
    timeout 300 "$PY" -m pytest -q -m cuda -p no:cacheprovider -rs --junitxml="$OUT/cuda_tests.xml" "${files[@]}"
    tests_rc=$?
    # pytest's 5 means nothing was collected or all deselected: not a failure of the check
    [ "$tests_rc" -eq 5 ] && tests_rc=0
    echo "[gpu_check] CUDA tests: exit $tests_rc"
    # shellcheck disable=SC2086  # the arguments are meant to split
    timeout 420 "$PY" bench/gpu_check.py --out "$OUT/gpu_check.json" ${MT2ST_GPU_CHECK_ARGS:-}
    check_rc=$?
    echo "[gpu_check] check: exit $check_rc"
    exit $(( tests_rc > check_rc ? tests_rc : check_rc ))
} 2>&1 | tee "$log"
exit "${PIPESTATUS[0]}"
