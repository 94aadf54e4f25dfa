"""Generation benchmark: warm speed, cold CLI time and peak memory on real speech.

    python bench/generate.py [--checkpoint CKPT] [--threads 2] [--skip-long]

Uses the real recordings in ``../shared/data/real/`` (exits with a message when absent):
60 s = the BEAT2 take's speech cut to 60 s; 10 min = all real recordings concatenated and
repeated up to 600 s. Without ``--checkpoint`` a default-size model (``EGGestureConfig()``)
with random weights is written to a temporary checkpoint: the cost of generation does not
depend on the weights. Prints

* warm generation speed: seconds of motion per second of compute (model loaded, one warm-up
  run first), for 60 s (best of ``--repeats``, since other processes share the CPUs) and 10 min;
* cold end-to-end CLI time on 60 s (``python -m egg_core.generate``: interpreter start,
  imports, model load, audio decode, generation, npz write);
* peak RSS of the CLI process for 60 s and for 10 min of audio.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Same as the CLI (egg_core.generate): no spin-waiting OpenMP threads on a shared CPU.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "data" / "real"
SR = 16000

_RSS_CHILD = """
import resource, sys
from egg_core.generate import main
code = main(sys.argv[1:])
print("PEAK_RSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def _speech(seconds: float):
    import numpy as np

    from egg_core.formats.audio import load_audio

    first = REAL / "beat2" / "2_scott_0_1_1.wav"
    others = sorted(p for p in REAL.glob("**/*.wav") if p != first)
    pieces = [load_audio(first, SR)] + [load_audio(p, SR) for p in others]
    joined = np.concatenate(pieces)
    reps = int(np.ceil(seconds * SR / len(joined)))
    return np.tile(joined, reps)[: int(seconds * SR)].astype(np.float32)


def _cli(args: list[str], threads: int, rss: bool) -> tuple[float, float | None, str]:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    cmd = [sys.executable, "-c", _RSS_CHILD, *args] if rss else [sys.executable, "-m", "egg_core.generate", *args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"CLI failed ({proc.returncode}):\n{proc.stderr}")
    peak = None
    for line in proc.stderr.splitlines():
        if line.startswith("PEAK_RSS_KB"):
            peak = int(line.split()[1]) / 1024.0
    return wall, peak, proc.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="model to benchmark (default: random default-size model)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5, help="warm runs on 60 s; the best is reported")
    parser.add_argument("--skip-long", action="store_true", help="skip the 10-minute runs")
    args = parser.parse_args()
    if not REAL.exists():
        print(f"reference speech not found at {REAL}; nothing to benchmark", file=sys.stderr)
        return 1

    import soundfile as sf
    import torch

    torch.set_num_threads(args.threads)
    from egg_core.checkpoint import save_checkpoint
    from egg_core.inference import GestureGenerator
    from egg_core.model.eggesture import EGGesture, EGGestureConfig

    tmp = Path(tempfile.mkdtemp(prefix="egg_bench_"))
    ckpt = Path(args.checkpoint) if args.checkpoint else save_checkpoint(
        EGGesture(EGGestureConfig()), tmp / "default_random.safetensors", {"training_data": "none (benchmark)"})
    gen = GestureGenerator.from_checkpoint(ckpt, "cpu")
    n_params = sum(p.numel() for p in gen.model.parameters())
    print(f"model: {ckpt.name}, {n_params / 1e6:.1f} M parameters, codebook {gen.config.codebook_size}, "
          f"torch threads {args.threads}, {os.cpu_count()} CPUs")

    lengths = [60.0] + ([] if args.skip_long else [600.0])
    waves = {s: _speech(s) for s in lengths}
    gen.generate(waves[60.0][: 20 * SR], SR)  # warm-up
    for s, wave in waves.items():
        times, cpu = [], []
        for _ in range(args.repeats if s <= 60 else 1):
            t0, c0 = time.perf_counter(), time.process_time()
            motion = gen.generate(wave, SR, fps=30.0)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        dt, worst = min(times), max(times)
        print(f"warm generation, {s:>5.0f} s audio: best {dt:6.2f} s -> {s / dt:7.1f}x real time "
              f"(worst of {len(times)}: {s / worst:.1f}x; CPU time {min(cpu):.2f} s over all threads; "
              f"{motion.num_frames} frames at 30 fps)")

    for s, wave in waves.items():
        wav = tmp / f"speech_{int(s)}s.wav"
        sf.write(wav, wave, SR)
        out = tmp / f"motion_{int(s)}s.npz"
        common = ["--audio", str(wav), "--out", str(out), "--checkpoint", str(ckpt), "--quiet",
                  "--device", "cpu", "--overwrite"]
        if s == 60.0:
            wall, _, _ = _cli(common, args.threads, rss=False)
            print(f"cold CLI end to end, 60 s audio: {wall:.2f} s")
        _, peak, _ = _cli(common, args.threads, rss=True)
        print(f"peak RSS of the CLI, {s:>5.0f} s audio: {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
