"""BEAT2 npz read/write: exact layout, round trips, errors, overwrite protection."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from egg_core.errors import EggError, MotionFormatError
from egg_core.formats.beat2 import BEAT2_KEYS, read_beat2_npz, write_beat2_npz
from egg_core.motion import Motion

# The layout of the real takes (checked against 2_scott_0_1_1.npz by test_layout_matches_real_take).
EXPECTED_LAYOUT = {
    "betas": (np.float32, lambda t: (300,)),
    "poses": (np.float32, lambda t: (t, 165)),
    "expressions": (np.float64, lambda t: (t, 100)),
    "trans": (np.float64, lambda t: (t, 3)),
    "model": (np.str_, lambda t: ()),
    "gender": (np.str_, lambda t: ()),
    "mocap_frame_rate": (np.int32, lambda t: ()),
}


def _motion(num_frames: int = 12, seed: int = 0) -> Motion:
    rng = np.random.default_rng(seed)
    return Motion(
        poses=rng.normal(size=(num_frames, 55, 3)),
        trans=rng.normal(size=(num_frames, 3)),
        fps=30,
        betas=rng.normal(size=300),
        expressions=rng.normal(size=(num_frames, 100)),
    )


def _layout(path) -> list[tuple[str, np.dtype, tuple[int, ...]]]:
    with np.load(path, allow_pickle=False) as data:
        return [(key, data[key].dtype, data[key].shape) for key in data.files]


def _save(path, **arrays) -> None:
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def test_written_file_has_beat2_layout(tmp_path):
    path = tmp_path / "take.npz"
    write_beat2_npz(_motion(12), path)
    layout = _layout(path)
    assert [key for key, _, _ in layout] == list(BEAT2_KEYS)
    for key, dtype, shape in layout:
        want_dtype, want_shape = EXPECTED_LAYOUT[key]
        assert dtype.type is want_dtype, key
        assert shape == want_shape(12), key
    with np.load(path) as data:
        assert str(data["model"]) == "smplx2020" and str(data["gender"]) == "neutral"
        assert int(data["mocap_frame_rate"]) == 30
    with zipfile.ZipFile(path) as archive:  # stored uncompressed, like the originals
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}


def test_round_trip_generated(tmp_path):
    motion = _motion(20, seed=3)
    motion.gender = "female"
    path = tmp_path / "m.npz"
    write_beat2_npz(motion, path)
    back = read_beat2_npz(path)
    np.testing.assert_array_equal(back.poses, motion.poses)
    np.testing.assert_array_equal(back.trans, motion.trans)
    np.testing.assert_array_equal(back.betas, motion.betas)
    np.testing.assert_array_equal(back.expressions, motion.expressions)
    assert (back.fps, back.gender, back.model) == (30.0, "female", "smplx2020")
    assert not list(tmp_path.glob(".*.tmp")), "temporary file left behind"


def test_file_loads_like_the_smplx_blender_addon(tmp_path):
    """What the official add-on's "Add Animation" reads, read the way it reads it."""
    path = tmp_path / "anim.npz"
    write_beat2_npz(_motion(8), path)
    with np.load(path) as data:  # default allow_pickle=False, as in the add-on
        for key in ("trans", "gender", "mocap_frame_rate", "betas", "poses"):
            assert key in data
        assert str(data["gender"]) in ("female", "male", "neutral")
        assert int(data["mocap_frame_rate"]) == 30
        assert data["poses"][0].reshape(-1, 3).shape == (55, 3)
        assert data["trans"][0].shape == (3,)
        assert len(list(data["betas"])) == 300


def test_layout_matches_real_take(beat2_take, tmp_path):
    motion = read_beat2_npz(beat2_take)
    assert motion.num_frames == 1906 and motion.fps == 30.0
    assert (motion.gender, motion.model) == ("neutral", "smplx2020")
    out = tmp_path / "copy.npz"
    write_beat2_npz(motion, out)
    assert _layout(out) == _layout(beat2_take)  # key-for-key, dtype-for-dtype, shape-for-shape
    with np.load(beat2_take) as original, np.load(out) as copy:
        for key in ("model", "gender", "mocap_frame_rate", "poses", "betas"):
            np.testing.assert_array_equal(copy[key], original[key], err_msg=key)
        # trans/expressions pass through float32 in memory (the Motion type).
        np.testing.assert_allclose(copy["trans"], original["trans"], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(copy["expressions"], original["expressions"], rtol=1e-6, atol=1e-6)


def test_overwrite_protection(tmp_path):
    path = tmp_path / "m.npz"
    write_beat2_npz(_motion(4, seed=1), path)
    with pytest.raises(EggError, match="overwrite=True") as info:
        write_beat2_npz(_motion(4, seed=2), path)
    assert isinstance(info.value, FileExistsError)
    np.testing.assert_array_equal(read_beat2_npz(path).poses, _motion(4, seed=1).poses)
    write_beat2_npz(_motion(4, seed=2), path, overwrite=True)
    np.testing.assert_array_equal(read_beat2_npz(path).poses, _motion(4, seed=2).poses)


def test_failed_write_leaves_nothing(tmp_path):
    motion = _motion(4)
    motion.fps = 29.97
    with pytest.raises(MotionFormatError, match="integer frame rate"):
        write_beat2_npz(motion, tmp_path / "m.npz")
    motion.fps = 30.0
    motion.gender = "robot"
    with pytest.raises(MotionFormatError, match="gender"):
        write_beat2_npz(motion, tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


def test_missing_optional_keys_are_zero_filled(tmp_path):
    path = tmp_path / "bare.npz"
    _save(path, poses=np.ones((5, 165), np.float32), trans=np.zeros((5, 3)), mocap_frame_rate=np.int32(15))
    motion = read_beat2_npz(path)
    assert motion.fps == 15.0
    assert motion.betas.shape == (300,) and not motion.betas.any()
    assert motion.expressions.shape == (5, 100) and not motion.expressions.any()
    assert (motion.gender, motion.model) == ("neutral", "smplx2020")


def test_short_betas_and_expressions_are_padded(tmp_path):
    path = tmp_path / "amass_like.npz"
    _save(
        path,
        poses=np.zeros((3, 55, 3)),
        trans=np.zeros((3, 3)),
        mocap_framerate=np.float64(60.0),
        betas=np.arange(16, dtype=np.float64),
        expressions=np.ones((3, 10)),
        gender=np.array(b"male"),
    )
    motion = read_beat2_npz(path)
    assert motion.fps == 60.0 and motion.gender == "male"
    np.testing.assert_array_equal(motion.betas[:16], np.arange(16))
    assert not motion.betas[16:].any()
    assert motion.expressions[:, :10].all() and not motion.expressions[:, 10:].any()


@pytest.mark.parametrize(
    ("arrays", "key"),
    [
        ({"trans": np.zeros((4, 3)), "mocap_frame_rate": 30}, "'poses'"),
        ({"poses": np.zeros((4, 165)), "mocap_frame_rate": 30}, "'trans'"),
        ({"poses": np.zeros((4, 165)), "trans": np.zeros((4, 3))}, "'mocap_frame_rate'"),
        ({"poses": np.zeros((4, 156)), "trans": np.zeros((4, 3)), "mocap_frame_rate": 30}, "'poses'"),
        ({"poses": np.zeros((4, 165)), "trans": np.zeros((5, 3)), "mocap_frame_rate": 30}, "'trans'"),
        ({"poses": np.zeros((4, 165)), "trans": np.zeros((4, 3)), "mocap_frame_rate": 0}, "'mocap_frame_rate'"),
        ({"poses": np.zeros((4, 165)), "trans": np.zeros((4, 3)), "mocap_frame_rate": 30,
          "betas": np.zeros(400)}, "'betas'"),
        ({"poses": np.zeros((4, 165)), "trans": np.zeros((4, 3)), "mocap_frame_rate": 30,
          "expressions": np.zeros((3, 100))}, "'expressions'"),
        ({"poses": np.zeros((4, 165)), "trans": np.zeros((4, 3)), "mocap_frame_rate": 30,
          "gender": np.zeros(3)}, "'gender'"),
        ({"poses": np.array(["x"] * 165).reshape(1, 165), "trans": np.zeros((1, 3)),
          "mocap_frame_rate": 30}, "'poses'"),
        ({"poses": np.full((4, 165), np.nan), "trans": np.zeros((4, 3)), "mocap_frame_rate": 30}, "NaN"),
    ],
)
def test_bad_keys_are_named(tmp_path, arrays, key):
    path = tmp_path / "bad.npz"
    _save(path, **arrays)
    with pytest.raises(MotionFormatError, match=key):
        read_beat2_npz(path)


def test_unreadable_files(tmp_path):
    with pytest.raises(MotionFormatError, match="not found"):
        read_beat2_npz(tmp_path / "missing.npz")
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(MotionFormatError, match="not an npz"):
        read_beat2_npz(text)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(MotionFormatError, match="not an npz"):
        read_beat2_npz(single)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    with pytest.raises(MotionFormatError, match="not a readable npz"):
        read_beat2_npz(broken)
    pickled = tmp_path / "pickled.npz"
    _save(pickled, poses=np.zeros((1, 165)), trans=np.zeros((1, 3)), mocap_frame_rate=30,
          gender=np.array(["neutral"], dtype=object))
    with pytest.raises(MotionFormatError, match="pickled"):
        read_beat2_npz(pickled)
