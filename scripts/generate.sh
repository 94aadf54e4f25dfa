#!/usr/bin/env bash
# Set up .venv (first run) and turn speech into gestures with the bundled default model.
#   bash scripts/generate.sh                       # demo on ../shared speech if present
#   bash scripts/generate.sh --audio talk.wav --out talk_motion.npz [--transcript talk.txt] [--bvh talk.bvh] ...
# Every option of `python -m egg_core.generate --help` is accepted.
EGG_EXTRAS="text"
source "$(dirname "$0")/_venv.sh"
if [ "$#" -eq 0 ]; then
    demo="../shared/data/real/speech/talkshow_1st-page.wav"
    if [ ! -f "$demo" ]; then
        echo "usage: bash scripts/generate.sh --audio SPEECH.wav --out motion.npz [options]"
        echo "(no arguments runs a demo on $demo, which is not present in this checkout)"
        exit 2
    fi
    mkdir -p out
    set -- --audio "$demo" --out out/demo_motion.npz --bvh out/demo_motion.bvh --overwrite
    echo "[demo] python -m egg_core.generate $*"
fi
exec python -m egg_core.generate "$@"
