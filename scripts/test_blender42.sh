#!/usr/bin/env bash
# Second Blender environment: run the version-sensitive add-on tests (compat shim, keyframe
# writer, armature/FK, extension build+install, lip-sync keying, retargeting onto real rigs) under the
# Blender 4.2 LTS wheel.
# The 4.2 wheel has no audio backend and no torch, so the generation tests skip there.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
VENV="${BPY42_VENV:-.venv-bpy42}"
if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating $VENV with bpy 4.2"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q "bpy==4.2.*" "numpy<2" pytest pytest-timeout hypothesis 2>&1 | grep -v "is ignored" || true
fi
PYTHONPATH="$ROOT" "$VENV/bin/python" -m pytest -p no:cacheprovider -q \
    tests/test_blender_compat.py tests/test_blender_armature.py tests/test_blender_extension.py \
    tests/test_blender_whole_body.py tests/test_blender_lipsync.py tests/test_blender_retarget.py
