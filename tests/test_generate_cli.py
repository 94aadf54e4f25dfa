"""`python -m egg_core.generate`: every user error exits 2 with a message; real speech end to end."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from egg_core.checkpoint import save_checkpoint
from egg_core.generate import main
from egg_core.model.eggesture import EGGesture, EGGestureConfig

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]
SHARED_REAL = REPO.parent / "shared" / "data" / "real"
SR = 16000


def _write_speechlike(path: Path, seconds: float = 3.0, sr: int = SR, channels: int = 1) -> Path:
    rng = np.random.default_rng(0)
    t = np.arange(int(sr * seconds)) / sr
    env = np.clip(np.sin(2 * np.pi * 3.0 * t), 0, None) ** 2
    x = (0.2 * env * rng.normal(0, 1, len(t))).astype(np.float32)
    sf.write(path, np.stack([x] * channels, 1) if channels > 1 else x, sr)
    return path


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    return save_checkpoint(EGGesture(EGGestureConfig.tiny()), path, {"training_data": "untrained (test)"})


@pytest.fixture(scope="module")
def real_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained briefly on the real BEAT2 take (skips without ../shared)."""
    take = SHARED_REAL / "beat2" / "2_scott_0_1_1.npz"
    wav = SHARED_REAL / "beat2" / "2_scott_0_1_1.wav"
    if not take.exists() or not wav.exists():
        pytest.skip(f"reference data not found at {SHARED_REAL} (clone with ../shared beside the repo)")
    from egg_core.formats.audio import load_audio
    from egg_core.formats.beat2 import read_beat2_npz
    from egg_core.model.audio import compute_audio_features
    from egg_core.model.representation import poses_to_features
    from egg_core.model.text import compute_text_features
    from egg_core.motion import resample_motion

    cfg = EGGestureConfig.tiny(text_encoder="hashed")
    motion = resample_motion(read_beat2_npz(take), cfg.fps)
    feats = poses_to_features(motion.poses, cfg.joint_set)
    audio = compute_audio_features(load_audio(wav, SR), SR, cfg.fps)
    n = min(len(feats), len(audio))
    feats, audio = torch.from_numpy(feats[:n]), torch.from_numpy(audio[:n])
    text = torch.from_numpy(compute_text_features(None, cfg.window_frames, cfg.fps))
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = EGGesture(cfg)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for step in range(120):
        starts = torch.randint(0, n - cfg.window_frames, (8,), generator=gen).tolist()
        batch = {"motion": torch.stack([feats[s:s + cfg.window_frames] for s in starts]),
                 "audio": torch.stack([audio[s:s + cfg.window_frames] for s in starts]),
                 "text": text[None].expand(8, -1, -1)}
        loss = model.losses(batch, epoch=step // 10)["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    path = tmp_path_factory.mktemp("real") / "beat2_tiny.safetensors"
    return save_checkpoint(model.eval(), path, {"training_data": "BEAT2 2_scott_0_1_1, 120 steps (test)"})


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


# --- user errors: message + exit 2 ----------------------------------------------------------
def test_error_paths(tmp_path: Path, tiny_ckpt: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wav = _write_speechlike(tmp_path / "speech.wav")
    out = tmp_path / "out.npz"
    base = ["--audio", str(wav), "--out", str(out), "--checkpoint", str(tiny_ckpt), "--quiet"]
    existing = tmp_path / "exists.npz"
    existing.write_bytes(b"x")
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("this is not audio")
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), SR)
    tiny = tmp_path / "tiny.wav"
    sf.write(tiny, np.zeros(20, np.float32), SR)
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"garbage")

    def swap(flag: str, value: str) -> list[str]:
        args = list(base)
        args[args.index(flag) + 1] = value
        return args

    cases = [
        (swap("--audio", str(tmp_path / "missing.wav")), "not found"),
        (swap("--audio", str(not_audio)), ""),
        (swap("--audio", str(empty)), ""),
        (swap("--audio", str(tiny)), "too short"),
        (base + ["--transcript", str(tmp_path / "missing.TextGrid")], "transcript file not found"),
        (swap("--out", str(existing)), "already exists"),
        (swap("--out", str(tmp_path / "motion.bvh")), ".npz"),
        (swap("--out", str(tmp_path / "nofolder" / "m.npz")), "does not exist"),
        (swap("--out", str(tmp_path)), ".npz"),
        (base + ["--bvh", str(tmp_path / "x.txt")], ".bvh"),
        (base + ["--preview", str(tmp_path / "x.avi")], ".gif or .mp4"),
        (base + ["--fps", "0"], "--fps"),
        (base + ["--fps", "-30"], "--fps"),
        (base + ["--temperature", "-1"], "--temperature"),
        (base + ["--top-k", "0"], "--top-k"),
        (swap("--checkpoint", str(tmp_path / "none.safetensors")), "checkpoint not found"),
        (swap("--checkpoint", str(corrupt)), "corrupt"),
        (base + ["--device", "tpu"], "unknown device"),
    ]
    if not torch.cuda.is_available():
        cases.append((base + ["--device", "cuda"], "CUDA was requested"))
    for argv, expected in cases:
        code, err = _run(argv, capsys)
        assert code == 2, (argv, err)
        assert err.startswith("error: ") and expected in err, (argv, err)
        assert "Traceback" not in err
    assert not out.exists()  # nothing written on any error
    assert existing.read_bytes() == b"x"


def test_no_bundled_model_message(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """An install without the bundled model (e.g. a trimmed package) says how to get one."""
    import egg_core.inference

    monkeypatch.setattr(egg_core.inference, "default_checkpoint_path",
                        lambda: tmp_path / "absent" / "eggesture_default.safetensors")
    wav = _write_speechlike(tmp_path / "speech.wav")
    code, err = _run(["--audio", str(wav), "--out", str(tmp_path / "o.npz"), "--quiet"], capsys)
    assert code == 2 and "--checkpoint" in err and "training.train" in err


def test_missing_required_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--audio", "x.wav"])
    assert exc.value.code == 2
    assert "--out" in capsys.readouterr().err


def test_overwrite_bvh_and_gif_preview(tmp_path: Path, tiny_ckpt: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from egg_core.formats.beat2 import read_beat2_npz

    wav = _write_speechlike(tmp_path / "s.wav", seconds=2.0, sr=22050, channels=2)
    out, bvh, gif = tmp_path / "m.npz", tmp_path / "m.bvh", tmp_path / "m.gif"
    argv = ["--audio", str(wav), "--out", str(out), "--checkpoint", str(tiny_ckpt), "--bvh", str(bvh),
            "--preview", str(gif), "--fps", "30", "--seed", "3"]
    code, err = _run(argv, capsys)
    assert code == 0, err
    first = read_beat2_npz(out)
    assert first.num_frames == 60 and first.fps == 30
    assert bvh.read_text().startswith("HIERARCHY") and gif.read_bytes()[:3] == b"GIF"
    code, err = _run(argv, capsys)
    assert code == 2 and "already exists" in err
    code, err = _run(argv + ["--overwrite", "--quiet"], capsys)
    assert code == 0, err
    assert np.array_equal(read_beat2_npz(out).poses, first.poses)  # same seed, same motion


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_mp4_preview_with_audio(tmp_path: Path, tiny_ckpt: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wav = _write_speechlike(tmp_path / "s.wav", seconds=2.0)
    mp4 = tmp_path / "m.mp4"
    code, err = _run(["--audio", str(wav), "--out", str(tmp_path / "m.npz"), "--checkpoint", str(tiny_ckpt),
                      "--preview", str(mp4), "--quiet"], capsys)
    assert code == 0, err
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0",
                            str(mp4)], capture_output=True, text=True)
    assert set(probe.stdout.split()) == {"video", "audio"}


def test_transcript_path(tmp_path: Path, tiny_ckpt: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("egg_core.words", reason="egg_core.words (engineer C) not available yet")
    wav = _write_speechlike(tmp_path / "s.wav", seconds=2.0)
    srt = tmp_path / "s.srt"
    srt.write_text("1\n00:00:00,200 --> 00:00:01,500\nhello there everyone\n")
    code, err = _run(["--audio", str(wav), "--transcript", str(srt), "--out", str(tmp_path / "m.npz"),
                      "--checkpoint", str(tiny_ckpt)], capsys)
    assert code == 0, err
    assert "words:" in err


# --- real speech, as a user runs it ---------------------------------------------------------
def _real_wavs() -> list[Path]:
    return sorted(SHARED_REAL.glob("**/*.wav")) if SHARED_REAL.exists() else []


@pytest.mark.parametrize("wav", _real_wavs() or [pytest.param(None, marks=pytest.mark.skip(
    reason=f"reference data not found at {SHARED_REAL}"))], ids=lambda p: p.name if p else "none")
def test_cli_on_real_speech(wav: Path, real_ckpt: Path, tmp_path: Path) -> None:
    from egg_core.formats.beat2 import read_beat2_npz
    from egg_core.model.representation import joint_indices

    out = tmp_path / "motion.npz"
    proc = subprocess.run([sys.executable, "-m", "egg_core.generate", "--audio", str(wav), "--out", str(out),
                           "--checkpoint", str(real_ckpt), "--fps", "30", "--seed", "0"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    info = sf.info(str(wav))
    motion = read_beat2_npz(out)
    assert motion.fps == 30
    assert motion.num_frames == int(np.floor(info.frames / info.samplerate * 30 + 0.5))
    assert np.isfinite(motion.poses).all() and np.isfinite(motion.trans).all()
    moving = motion.poses[:, list(joint_indices("gesture"))]
    assert float(moving.std(axis=0).mean()) > 1e-3  # not a static pose
    with np.load(out) as data:
        assert set(data.files) >= {"poses", "trans", "betas", "expressions", "model", "gender", "mocap_frame_rate"}
        assert data["poses"].shape == (motion.num_frames, 165)


def test_bvh_uses_the_exact_skeleton_of_smplx_model_files(tmp_path: Path, tiny_ckpt: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """--smplx-dir: the BVH's offsets are the model's regressed joints, not the built-in skeleton."""
    from smplx_fixture import write_synthetic_smplx

    from egg_core.body_model import load_body_model
    from egg_core.formats.bvh import read_bvh
    from egg_core.skeleton import SMPLX

    models = tmp_path / "models"
    write_synthetic_smplx(models / "SMPLX_NEUTRAL_2020.npz", smplx_compatible=False, num_vertices=600,
                          num_faces=1000)
    wav = _write_speechlike(tmp_path / "s.wav", seconds=1.0)
    out, bvh = tmp_path / "m.npz", tmp_path / "m.bvh"
    base = ["--audio", str(wav), "--out", str(out), "--checkpoint", str(tiny_ckpt), "--quiet"]

    code, err = _run(base + ["--bvh", str(bvh), "--smplx-dir", str(tmp_path / "nowhere")], capsys)
    assert code == 2 and "--smplx-dir" in err and "SMPLX_NEUTRAL" in err

    code, err = _run(base + ["--bvh", str(bvh), "--smplx-dir", str(models)], capsys)
    assert code == 0, err
    exact = load_body_model(models).skeleton()
    read = read_bvh(bvh)
    by_name = dict(zip(read.skeleton.joint_names, read.skeleton.offsets, strict=True))
    for j, name in enumerate(SMPLX.joint_names[1:], start=1):
        np.testing.assert_allclose(by_name[name], exact.offsets[j], atol=1e-5)
    assert not np.allclose(exact.offsets, SMPLX.offsets, atol=1e-3)


def test_parts_hold_the_unchosen_parts_exactly_still(tmp_path: Path, tiny_ckpt: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """--parts hands: the upper body (and the root) stay exactly still; the hands move."""
    from egg_core.skeleton import SMPLX

    audio = _write_speechlike(tmp_path / "a.wav", seconds=4.0)
    out = tmp_path / "hands.npz"
    assert main(["--audio", str(audio), "--checkpoint", str(tiny_ckpt), "--out", str(out),
                 "--parts", "hands", "--quiet"]) == 0
    with np.load(out) as data:
        poses, trans = data["poses"].reshape(-1, 55, 3), data["trans"]
    upper, hands = SMPLX.subset_indices(["upper"]), SMPLX.subset_indices(["hands"])
    assert np.array_equal(poses[:, upper], np.broadcast_to(poses[:1, upper], poses[:, upper].shape))
    assert np.array_equal(trans, np.broadcast_to(trans[:1], trans.shape))
    assert float(np.abs(np.diff(poses[:, hands], axis=0)).max()) > 0
    assert main(["--audio", str(audio), "--checkpoint", str(tiny_ckpt), "--out", str(tmp_path / "x.npz"),
                 "--parts", "upper,tail", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "unknown part(s) tail" in err and "upper, hands, lower, face, eyes, root" in err
