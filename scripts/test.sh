#!/usr/bin/env bash
# Set up .venv (first run) and run the whole test suite. Extra arguments go to pytest.
EGG_EXTRAS="dev,blender,text,align,asr,smplx,train"
source "$(dirname "$0")/_venv.sh"
python -m ruff check . || { echo "ruff found problems (python -m ruff check --fix . fixes most)"; exit 1; }
set +e
python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: treating as failure"
    exit 1
fi
exit "$rc"
