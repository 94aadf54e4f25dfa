"""Audio feature benchmark: built-in log-mel vs frozen Whisper tiny.en encoder features.

    python bench/audio_features.py [--threads 2] [--repeats 3] [--seconds 60]

Uses 60 s of the real BEAT2 take ``../shared/data/real/beat2/2_scott_0_1_1.wav`` (exits with a
message when absent) and prints, measured in this one process, the seconds to compute

* ``mel`` (:func:`egg_core.model.audio.compute_audio_features`) and
* ``whisper`` (:func:`egg_core.model.audio.compute_whisper_features`, the ``asr`` extra),

cold (the first call: for whisper that includes importing faster-whisper / CTranslate2 and
loading the model) and warm (best of ``--repeats`` further calls, since other processes may
share the CPUs), with the whisper / mel ratios and the real-time factor of each.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the generation CLI: no spin-waiting
REPO = Path(__file__).resolve().parents[1]
WAV = REPO.parent / "shared" / "data" / "real" / "beat2" / "2_scott_0_1_1.wav"
SR = 16000
FPS = 15.0


def _time(fn, repeats: int) -> tuple[float, float]:
    """(cold, warm) seconds: the first call, then the best of ``repeats`` more."""
    t0 = time.perf_counter()
    fn()
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        warm.append(time.perf_counter() - t0)
    return cold, min(warm)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2, help="torch / CTranslate2 threads (default 2)")
    ap.add_argument("--repeats", type=int, default=3, help="warm calls; the best is reported")
    ap.add_argument("--seconds", type=float, default=60.0, help="seconds of speech (default 60)")
    args = ap.parse_args(argv)
    if not WAV.is_file():
        print(f"the real BEAT2 recording is not at {WAV} (clone with ../shared beside the repo)", file=sys.stderr)
        return 2
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    from egg_core.errors import EggError
    from egg_core.formats.audio import load_audio_segment
    from egg_core.model.audio import compute_audio_features, compute_whisper_features

    torch.set_num_threads(args.threads)  # the whisper encoder uses as many threads as torch
    wave = load_audio_segment(WAV, 0.0, args.seconds, SR)
    seconds = len(wave) / SR
    print(f"{seconds:.1f} s of speech ({WAV.name}), {args.threads} thread(s), {FPS:g} fps, "
          f"warm = best of {args.repeats}")
    mel_cold, mel_warm = _time(lambda: compute_audio_features(wave, SR, FPS), args.repeats)
    try:
        wh_cold, wh_warm = _time(lambda: compute_whisper_features(wave, SR, FPS), args.repeats)
    except EggError as exc:
        print(f"whisper: {exc}", file=sys.stderr)
        return 2
    print(f"{'features':<10}{'cold s':>9}{'warm s':>9}{'x real time (warm)':>20}")
    for name, cold, warm in (("mel", mel_cold, mel_warm), ("whisper", wh_cold, wh_warm)):
        print(f"{name:<10}{cold:>9.3f}{warm:>9.3f}{seconds / warm:>20.1f}")
    print(f"whisper / mel: cold {wh_cold / mel_cold:.1f}x, warm {wh_warm / mel_warm:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
