"""Stick-figure preview of a motion: animated GIF (Pillow), or MP4 through ffmpeg with the speech.

A front view (camera on +Z looking at the body, so the body's left, +X, is on the right of
the image), orthographic, framed once for the whole clip so the figure does not jump.
Bones are drawn from forward kinematics of :data:`egg_core.skeleton.SMPLX`: left side in
blue, right side in red, centre in grey; the head is a circle with a mouth whose height follows
the jaw's opening (:func:`mouth_opening`), so lip motion is visible at a glance. GIFs are rendered at up to
15 fps (GIF frame delays are 10 ms steps and large GIFs get heavy), MP4 at up to 30 fps.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from egg_core.atomic import atomic_path, check_target
from egg_core.errors import EggError
from egg_core.rotations import axis_angle_to_matrix
from egg_core.skeleton import SMPLX, forward_kinematics

if TYPE_CHECKING:
    from egg_core.motion import Motion

PREVIEW_EXTENSIONS = (".gif", ".mp4")
_BG = (250, 250, 247)
_COLOURS = {"left": (40, 90, 200), "right": (200, 50, 50), "centre": (90, 90, 90)}


def _joint_side(name: str) -> str:
    if name.startswith("left"):
        return "left"
    if name.startswith("right"):
        return "right"
    return "centre"


def check_preview_target(path: str | Path, overwrite: bool) -> Path:
    """Validate a preview output path before any work is done (extension, folder, overwrite)."""
    p = Path(path)
    if p.suffix.lower() not in PREVIEW_EXTENSIONS:
        raise EggError(f"preview must be a .gif or .mp4 file, got {p.name!r}")
    if p.suffix.lower() == ".mp4" and shutil.which("ffmpeg") is None:
        raise EggError("an .mp4 preview needs ffmpeg on the PATH (install ffmpeg), or ask for a .gif")
    return check_target(p, overwrite)


def joint_positions(motion: Motion) -> np.ndarray:
    """World joint positions ``(T, 55, 3)`` of ``motion`` on the project's SMPL-X skeleton."""

    pos, _ = forward_kinematics(SMPLX, axis_angle_to_matrix(motion.poses.astype(np.float64)),
                                motion.trans.astype(np.float64))
    return np.asarray(pos)


#: Jaw rotation about x (rad) drawn as a fully open mouth; BEAT2 speech opens it about 0.02-0.1.
JAW_FULLY_OPEN = 0.12


def mouth_opening(poses: np.ndarray) -> np.ndarray:
    """``(T,)`` in [0, 1]: the jaw's opening (SMPL-X joint 22, rotation about x) per frame."""
    jaw = np.asarray(poses, dtype=np.float64).reshape(len(poses), -1, 3)[:, SMPLX.index("jaw"), 0]
    return np.clip(jaw / JAW_FULLY_OPEN, 0.0, 1.0)


def render_frames(motion: Motion, fps: float, size: tuple[int, int] = (360, 480)):
    """Yield RGB ``PIL.Image`` frames of the stick figure at ``fps``."""
    from PIL import Image, ImageDraw


    step = max(1, int(round(motion.fps / fps)))
    pos = joint_positions(motion)[::step]
    mouth = mouth_opening(motion.poses)[::step]
    width, height = size
    xy = pos[..., :2]
    lo = np.percentile(xy.reshape(-1, 2), 0.5, axis=0)
    hi = np.percentile(xy.reshape(-1, 2), 99.5, axis=0)
    centre = (lo + hi) / 2.0
    span = max(float((hi - lo).max()), 0.5) * 1.15
    scale = min(width, height) / span

    def to_px(p: np.ndarray) -> tuple[float, float]:
        return (width / 2 + (p[0] - centre[0]) * scale, height / 2 - (p[1] - centre[1]) * scale)

    bones = [(j, p, _COLOURS[_joint_side(SMPLX.joint_names[j])])
             for j, p in enumerate(SMPLX.parents) if p >= 0]
    head = SMPLX.index("head")
    thick = max(2, int(scale * 0.02))
    for frame, opening in zip(pos, mouth, strict=True):
        img = Image.new("RGB", (width, height), _BG)
        draw = ImageDraw.Draw(img)
        for j, p, colour in bones:
            draw.line([to_px(frame[p]), to_px(frame[j])], fill=colour, width=thick)
        hx, hy = to_px(frame[head])
        r = 0.09 * scale
        draw.ellipse([hx - r, hy - 1.4 * r, hx + r, hy + 0.6 * r], outline=_COLOURS["centre"], width=thick)
        mouth_h = 0.06 * r + 0.45 * r * float(opening)
        draw.ellipse([hx - 0.35 * r, hy + 0.05 * r, hx + 0.35 * r, hy + 0.05 * r + mouth_h],
                     fill=(150, 60, 60))
        yield img


def render_preview(motion: Motion, path: str | Path, audio_path: str | Path | None = None,
                   overwrite: bool = False, size: tuple[int, int] = (360, 480)) -> Path:
    """Render ``motion`` to ``path`` (.gif or .mp4; MP4 gets ``audio_path`` muxed in when given)."""
    target = check_preview_target(path, overwrite)
    with atomic_path(target, suffix=target.suffix, overwrite=overwrite) as tmp:
        if target.suffix.lower() == ".gif":
            _write_gif(motion, tmp, size)
        else:
            _write_mp4(motion, tmp, audio_path, size)
    return target


def _write_gif(motion: Motion, path: Path, size: tuple[int, int]) -> None:
    fps = min(15.0, motion.fps)
    step = max(1, int(round(motion.fps / fps)))
    frames = [im.convert("P", palette=1, colors=16) for im in render_frames(motion, fps, size)]
    duration = int(round(1000.0 * step / motion.fps))
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:],
                   duration=duration, loop=0, optimize=False)


def _write_mp4(motion: Motion, path: Path, audio_path: str | Path | None, size: tuple[int, int]) -> None:
    fps = min(30.0, motion.fps)
    step = max(1, int(round(motion.fps / fps)))
    rate = motion.fps / step
    width, height = (size[0] // 2) * 2, (size[1] // 2) * 2
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo",
           "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{rate:.6f}", "-i", "-"]
    if audio_path is not None:
        cmd += ["-i", str(audio_path), "-c:a", "aac", "-shortest"]
    cmd += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart", "-f", "mp4", str(path)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.stdin is None:  # pragma: no cover - Popen always makes the pipe here
        raise EggError("could not start ffmpeg")
    try:
        for img in render_frames(motion, rate, (width, height)):
            proc.stdin.write(img.tobytes())
        proc.stdin.close()
    except BrokenPipeError:
        pass
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.wait() != 0:
        raise EggError(f"ffmpeg could not write the preview {path.name}: {err.strip()[:500]}")
