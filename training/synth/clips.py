"""One clip from its seed: speech, gestures on its words, written as wav, npz, TextGrid and labels.

Speech is espeak-ng (:mod:`egg_core.speech_synth`, which reports the true word times),
one voice, rate and pitch per clip. Each keyword's gesture peaks near the keyword's
onset. While speaking, the hands come up into gesture space and beat with a short
downward flick near the onset of content words: English content words mostly carry
their stress on the first syllable, and only word (not syllable) times are known, so the
onset stands in for the stressed syllable.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from egg_core.atomic import atomic_path
from egg_core.errors import EggError
from egg_core.formats.audio import resample
from egg_core.formats.beat2 import write_beat2_npz
from egg_core.formats.transcripts import Transcript, Word, write_textgrid
from egg_core.motion import Motion
from egg_core.rotations import axis_angle_to_quat, quat_to_axis_angle
from egg_core.skeleton import SMPLX
from egg_core.speech_synth import synthesize_array
from training.synth.arm_ik import arm_pose_at
from training.synth.body import _HEAD, _L_ELBOW, _L_WRIST
from training.synth.constants import FPS, SAMPLE_RATE, STEM_PREFIX
from training.synth.gestures import build_gesture
from training.synth.idle import IdleSource, procedural_idle
from training.synth.render import (
    Instance,
    _premul_aa,
    _qmul_aa,
    _segments_blend,
    envelope,
    render_instance,
)
from training.synth.vocabulary import (
    CLASS_BY_NAME,
    CLASS_NAMES,
    FUNCTION_WORDS,
    bare,
    generate_sentence,
    zipf_probabilities,
)

VOICES: tuple[str, ...] = ("en-us", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-us+f2", "en+f3",
                           "en+m3", "en-gb-x-rp+f4")


@dataclass(frozen=True)
class SynthSettings:
    """Everything the dataset depends on (stored in the manifest)."""

    minutes: float = 60.0
    seed: int = 0
    clip_seconds: float = 60.0
    idle_source: str | None = None
    arm_keep: float = 0.2
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)

    def clip_durations(self) -> list[float]:
        total = self.minutes * 60.0
        n = max(1, int(math.ceil(total / self.clip_seconds - 1e-9)))
        return [min(self.clip_seconds, total - k * self.clip_seconds) for k in range(n)]


@dataclass
class ClipPlan:
    """What one clip says and does (before rendering): words, keywords and gestures."""

    words: list[Word]
    wave: np.ndarray  # float32 at SAMPLE_RATE
    keywords: list[tuple[int, str]]  # (index into words, class)
    sentences: list[tuple[int, int]]  # (first word, last word) per sentence
    voice: str
    rate: int
    pitch: int


def _speak_clip(rng: np.random.Generator, target_s: float) -> ClipPlan:
    """Synthesise sentences until ``target_s`` seconds of audio are filled."""
    voice = str(rng.choice(VOICES))
    rate = int(rng.integers(145, 186))
    pitch = int(rng.integers(30, 71))
    probs = zipf_probabilities()
    chunks: list[np.ndarray] = []
    words: list[Word] = []
    keywords: list[tuple[int, str]] = []
    sentences: list[tuple[int, int]] = []
    sr_native = 22050
    t = float(rng.uniform(0.6, 1.2))
    chunks.append(np.zeros(int(round(t * sr_native))))
    while t < target_s - 1.5 or not sentences:
        sent = generate_sentence(rng, probs)
        wave, sr_native, spoken = synthesize_array(sent.text, voice, rate + int(rng.integers(-8, 9)), pitch)
        if len(spoken) != len(sent.words):
            raise EggError(f"espeak-ng returned {len(spoken)} words for the {len(sent.words)} of {sent.text!r}")
        base = len(words)
        words.extend(Word(w.text, round(t + w.start, 4), round(t + w.end, 4)) for w in spoken)
        keywords.extend((base + i, c) for i, c in sent.keywords)
        sentences.append((base, len(words) - 1))
        chunks.append(wave.astype(np.float64) / 32768.0)
        t += len(wave) / sr_native
        pause = float(rng.uniform(0.25, 1.1))
        chunks.append(np.zeros(int(round(pause * sr_native))))
        t += pause
    audio = np.concatenate(chunks)
    audio = resample(audio, sr_native, SAMPLE_RATE).astype(np.float64)
    gain = float(rng.uniform(0.55, 0.9))
    audio = gain * audio + rng.normal(0.0, 3e-4, len(audio))
    return ClipPlan(words, audio.astype(np.float32), keywords, sentences, voice, rate, pitch)


def schedule_gestures(words: list[Word], keywords: list[tuple[int, str]], rng: np.random.Generator) -> list[Instance]:
    """Timing of each keyword's gesture, with label spans that never overlap."""
    out: list[Instance] = []
    for wi, name in keywords:
        w = words[wi]
        cls = CLASS_BY_NAME[name]
        onset = w.start + float(rng.uniform(-0.12, 0.08))
        if cls.fixed_hold is not None:
            hold = float(rng.uniform(*cls.fixed_hold))
        else:
            hold = max(cls.min_hold, w.end - onset + float(rng.uniform(0.15, 0.5)))
        prep, retract = float(rng.uniform(0.3, 0.5)), float(rng.uniform(0.35, 0.6))
        if out:
            # keep label spans apart: shorten the previous hold (to 0.1 s), then the previous
            # retraction and this preparation (to 0.2 s), and only then delay this onset
            prev = out[-1]
            need = prev.label[1] + 0.04 - (onset - 0.5 * prep)
            if need > 0:
                cut = min(need, max(0.0, prev.hold - 0.1))
                prev.hold -= cut
                need -= cut
            if need > 0:
                cut = min(need, 0.5 * max(0.0, prev.retract - 0.2))
                prev.retract -= 2 * cut
                need -= cut
            if need > 0:
                cut = min(need, 0.5 * max(0.0, prep - 0.2))
                prep -= 2 * cut
                need -= cut
            if need > 0:
                onset += need
        plan = build_gesture(name, rng, hold)
        out.append(Instance(name, plan, onset, hold, prep, retract))
    return out


def _render_speech_layer(q: np.ndarray, plan: ClipPlan, rng: np.random.Generator) -> int:
    """Hands up into gesture space while speaking, with beats on content words. Returns #beats."""
    T = q.shape[0]
    t_all = np.arange(T) / FPS
    elbow_ext = {"L": np.zeros(T), "R": np.zeros(T)}
    head_nod = np.zeros(T)
    n_beats = 0
    for first, last in plan.sentences:
        s0, s1 = plan.words[first].start, plan.words[last].end
        mode = str(rng.choice(["R", "L", "LR"], p=(0.45, 0.2, 0.35)))
        f0, f1 = max(0, int((s0 - 0.5) * FPS)), min(T, int((s1 + 0.7) * FPS) + 1)
        tt = t_all[f0:f1]
        env = envelope(tt, s0 - 0.5, s0 - 0.05, s1 + 0.1, s1 + 0.7)
        for side in ("L", "R"):
            level = float(rng.uniform(0.6, 1.0)) if side in mode else float(rng.uniform(0.0, 0.25))
            wrist = (float(rng.uniform(0.14, 0.24)), float(rng.uniform(-0.20, -0.05)), float(rng.uniform(0.20, 0.32)))
            pose = arm_pose_at(np.array(wrist) * np.array([1.0 if side == "L" else -1.0, 1, 1]),
                               (0.2 if side == "L" else -0.2, 0.1, 1.0),
                               (-0.6 if side == "L" else 0.6, 0.6, 0.0),
                               str(rng.choice(["relaxed", "cup", "open"])), side,
                               (0.5 if side == "L" else -0.5, -1.0, -0.4))
            js = sorted(pose)
            target = np.asarray(axis_angle_to_quat(np.array([pose[j] for j in js])))
            _segments_blend(q, f0, f1, js, target, env * level)
        last_beat = -1.0
        for wd in plan.words[first:last + 1]:
            if bare(wd.text) in FUNCTION_WORDS or rng.random() > 0.75:
                continue
            apex = wd.start + min(0.1, 0.3 * (wd.end - wd.start))
            if apex - last_beat < 0.3:
                continue
            last_beat = apex
            n_beats += 1
            amp = float(rng.uniform(0.12, 0.30))
            b0, b1 = max(0, int((apex - 0.35) * FPS)), min(T, int((apex + 0.5) * FPS) + 1)
            dt = t_all[b0:b1] - apex
            pulse = np.where(dt < 0, np.exp(-(dt / 0.07) ** 2), np.exp(-(dt / 0.14) ** 2))
            for side in ("L", "R"):
                if side in mode:
                    elbow_ext[side][b0:b1] += amp * pulse
            if rng.random() < 0.5:
                head_nod[b0:b1] += float(rng.uniform(0.03, 0.06)) * pulse
    for side, (elbow, wrist) in (("L", (_L_ELBOW, _L_WRIST)), ("R", (SMPLX.mirror[_L_ELBOW], SMPLX.mirror[_L_WRIST]))):
        sgn = 1.0 if side == "L" else -1.0
        ext = np.minimum(elbow_ext[side], 0.45)
        q[:, elbow] = _premul_aa(q[:, elbow], np.stack([0 * ext, sgn * ext, 0 * ext], -1))
        q[:, wrist] = _qmul_aa(q[:, wrist], np.stack([0 * ext, 0 * ext, -sgn * 0.6 * ext], -1))
    q[:, _HEAD] = _qmul_aa(q[:, _HEAD], np.stack([head_nod, 0 * head_nod, 0 * head_nod], -1))
    return n_beats


@dataclass
class ClipResult:
    """What was written for one clip (for the manifest)."""

    stem: str
    seconds: float
    voice: str
    rate: int
    pitch: int
    words: int
    beats: int
    classes: dict[str, int]


def render_clip(index: int, settings: SynthSettings, duration: float,
                idle: IdleSource | None) -> tuple[Motion, np.ndarray, list[Word], list[Instance], ClipResult]:
    """Make clip ``index`` in memory: (Motion, 16 kHz wave, words, gestures, summary)."""
    rng = np.random.default_rng([settings.seed, index])
    plan = _speak_clip(rng, duration)
    gestures = schedule_gestures(plan.words, plan.keywords, rng)
    end_s = max([len(plan.wave) / SAMPLE_RATE, plan.words[-1].end + 0.6] + [g.end + 0.1 for g in gestures])
    n_frames = int(math.ceil(end_s * FPS))
    n_samples = int(round(n_frames / FPS * SAMPLE_RATE))
    wave = np.zeros(n_samples, np.float32)
    wave[: min(n_samples, len(plan.wave))] = plan.wave[:n_samples]
    if idle is not None:
        q, trans = idle.idle(n_frames, rng)
    else:
        q, trans = procedural_idle(n_frames, rng)
    beats = _render_speech_layer(q, plan, rng)
    for inst in gestures:
        render_instance(q, inst)
    poses = np.asarray(quat_to_axis_angle(q), dtype=np.float32)
    motion = Motion(poses=poses, trans=trans.astype(np.float32), fps=float(FPS))
    stem = f"{STEM_PREFIX}{index:04d}"
    summary = ClipResult(stem, n_frames / FPS, plan.voice, plan.rate, plan.pitch, len(plan.words), beats,
                         dict(Counter(g.name for g in gestures)))
    return motion, wave, plan.words, gestures, summary


def write_clip(out: Path, index: int, settings: SynthSettings, duration: float,
               idle: IdleSource | None, overwrite: bool = False) -> ClipResult:
    """Render clip ``index`` and write its wav, npz, TextGrid and labels into ``out``."""
    motion, wave, words, gestures, summary = render_clip(index, settings, duration, idle)
    stem = summary.stem
    write_beat2_npz(motion, out / f"{stem}.npz", overwrite=overwrite)
    write_textgrid(Transcript(words=list(words), timed=True, source="espeak-ng synthesis"),
                   out / f"{stem}.TextGrid", overwrite=overwrite, xmax=summary.seconds)
    labels = {"classes": list(CLASS_NAMES),
              "labels": [{"class": g.name, "start": round(g.label[0], 3), "end": round(g.label[1], 3)}
                         for g in gestures]}
    (out / f"{stem}.labels.json").write_text(json.dumps(labels, indent=1), encoding="utf-8")
    with atomic_path(out / f"{stem}.wav", suffix=".wav") as tmp:
        sf.write(str(tmp), wave, SAMPLE_RATE, subtype="PCM_16")
    return summary
