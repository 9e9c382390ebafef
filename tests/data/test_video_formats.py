"""Frame-exact decoding in every common container and codec, against the truth: frame ``i`` is the ``i``-th
frame a naive sequential PyAV decode yields. Each synthetic frame paints its 0-based index as 6 horizontal
black/white bands (bit b = band b, top first), which survive 4:2:0 and lossy coding and read wrong in any
other orientation, so a test knows which frame came back and whether it is upright.
"""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from acrn.data.video import VideoReader, _Converter
from acrn.errors import InputError

H, W, N, BITS = 48, 64, 40, 6
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "videos"


def signature(i: int, noise: np.random.Generator | None = None) -> np.ndarray:
    """``uint8 [H, W, 3]`` RGB: frame number ``i`` as bands (with noise: packets big enough to cut a file)."""
    img = np.zeros((H, W, 3), np.uint8) if noise is None else noise.integers(0, 50, (H, W, 3)).astype(np.uint8)
    for b in range(BITS):
        if i >> b & 1:
            img[b * H // BITS:(b + 1) * H // BITS] += 200
    return img


def read_signature(img: np.ndarray) -> int:
    h = img.shape[0]
    out = 0
    for b in range(BITS):
        y0, y1 = b * h // BITS, (b + 1) * h // BITS
        pad = max(1, (y1 - y0) // 4)
        if img[y0 + pad:y1 - pad].mean() > 127:
            out |= 1 << b
    return out


def sigs(frames) -> list[int]:
    return [read_signature(f) for f in frames]


def write(path: Path, codec: str, n: int = N, rate: int = 25, pix: str = "yuv420p", options: dict | None = None,
          b_frames: int | None = None, pts: list[int] | None = None, rotation: int = 0, mux: dict | None = None,
          noise: bool = False) -> Path:
    """``n`` signature frames; ``pts`` in 1/1000 s (variable frame rate); ``rotation`` a display matrix."""
    rng = np.random.default_rng(0) if noise else None
    with av.open(str(path), "w", options=mux or {}) as c:
        s = c.add_stream(codec, rate=rate)
        s.width, s.height = (W, H) if rotation % 180 == 0 else (H, W)
        s.pix_fmt = pix
        if options:
            s.options = options
        if b_frames is not None:
            s.codec_context.max_b_frames = b_frames
        if pts is not None:
            s.time_base = s.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            s.set_display_rotation(rotation)
        for i in range(n):
            # Stored as the sensor saw it: turning it by ``rotation`` counter-clockwise shows it upright.
            img = np.ascontiguousarray(np.rot90(signature(i, rng), -rotation // 90))
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            if pts is not None:
                f.pts, f.time_base = pts[i], Fraction(1, 1000)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def write_packed_avi(path: Path, n: int = N) -> Path:
    """MPEG-4 ASP in AVI with DivX "packed B-frames", as old DivX/XviD files (and shared/videos/test.avi):
    each B-frame rides in the chunk of the frame decoded before it, its own slot holds a 6-byte N-VOP, and
    the DivX user data tells the decoder so. AVI stores no pts; the ones libavformat guesses come out of
    the decoder out of order."""
    cc = av.CodecContext.create("mpeg4", "w")
    cc.width, cc.height, cc.pix_fmt, cc.time_base, cc.framerate = W, H, "yuv420p", Fraction(1, 25), 25
    cc.max_b_frames, cc.gop_size = 1, 12
    coded = []
    for i in range(n):
        f = av.VideoFrame.from_ndarray(signature(i), format="rgb24")
        f.pts, f.time_base = i, Fraction(1, 25)
        coded += [(p.pts, bytes(p), p.is_keyframe) for p in cc.encode(f)]
    coded += [(p.pts, bytes(p), p.is_keyframe) for p in cc.encode(None)]
    chunks, i = [], 0
    while i < len(coded):
        pts, data, key = coded[i]
        if b"\x00\x00\x01\x20" in data:  # a VOL header: announce the packed bitstream before the VOP
            v = data.find(b"\x00\x00\x01\xb6")
            data = data[:v] + b"\x00\x00\x01\xb2DivX503b1393p" + data[v:]
        if i + 1 < len(coded) and coded[i + 1][0] < pts:  # a B-frame shown before this frame: pack it in
            chunks += [(data + coded[i + 1][1], key), (bytes.fromhex("000001b651cf"), False)]
            i += 2
        else:
            chunks.append((data, key))
            i += 1
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt, s.time_base = W, H, "yuv420p", Fraction(1, 25)
        for j, (data, key) in enumerate(chunks):
            p = av.Packet(data)
            p.stream, p.pts, p.dts, p.time_base, p.is_keyframe = s, j, j, Fraction(1, 25), key
            c.mux(p)
    return path


FORMATS = {
    "mp4-h264-bframes": ("libx264", dict(options={"bf": "2", "g": "10"})),
    "mp4-mpeg4-bframes": ("mpeg4", dict(b_frames=2, options={"g": "10"})),  # open GOPs
    "avi-mpeg4-bframes": ("mpeg4", dict(b_frames=2, options={"g": "10"})),
    "avi-mjpeg": ("mjpeg", dict(pix="yuvj420p")),
    "mkv-h264-bframes": ("libx264", dict(options={"bf": "2", "g": "10"})),
    "webm-vp8": ("libvpx", dict(options={"g": "10"})),
    "webm-vp9": ("libvpx-vp9", dict(options={"g": "10", "speed": "8"})),
    "mov-prores": ("prores", dict(pix="yuv422p10le")),
    "mov-h264": ("libx264", dict(options={"bf": "1", "g": "8"})),
}
VFR_PTS = [int(t) for t in np.concatenate([[0], np.cumsum(np.random.default_rng(1).integers(10, 90, N - 1))])]


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("formats")
    out = {name: write(d / f"{name}.{name.split('-')[0]}", codec, **kw) for name, (codec, kw) in FORMATS.items()}
    out["avi-mpeg4-packed"] = write_packed_avi(d / "packed.avi")
    for ext in ("mkv", "mp4"):
        out[f"vfr-{ext}"] = write(d / f"vfr.{ext}", "libx264", options={"bf": "2", "g": "10"}, pts=VFR_PTS)
    return out


def naive_rgb(path: Path, reader: VideoReader) -> list[np.ndarray]:
    """The truth: every frame of ``for f in container.decode(stream)``, converted as the reader converts."""
    convert = _Converter(reader.rotation)
    with av.open(str(path)) as c:
        return [convert(f, reader.size) for f in c.decode(c.streams.video[0])]


def access_patterns(n: int, key: int = 10) -> list[list[int]]:
    rng = np.random.default_rng(0)
    return [list(rng.permutation(n)[:12]), list(range(n - 1, -1, -3)), [7, 7, 7], list(range(key - 4, key + 12)),
            [int(i) for i in rng.integers(0, n, 8)], list(range(0, n, 2)), [n - 1, 0, n - 1], list(range(3, 9)),
            list(range(9, 15)), [int(i) for i in rng.permutation(n)]]


@pytest.mark.parametrize("name", [*FORMATS, "avi-mpeg4-packed", "vfr-mkv", "vfr-mp4"])
def test_random_access_matches_a_sequential_decode(videos, name):
    r = VideoReader(videos[name])
    truth = naive_rgb(videos[name], r)
    assert sigs(truth) == list(range(N))  # the file itself is right
    assert r.size == (H, W) and r.num_frames == N and r.count_frames() == N
    for idx in access_patterns(N):
        out = r.read(idx)
        assert sigs(out) == idx, idx
        assert all(np.array_equal(o, truth[i]) for o, i in zip(out, idx))
    assert [i for i, _, _ in r.frames(step=3)] == list(range(0, N, 3))
    assert all(np.array_equal(img, truth[i]) for i, _, img in r.frames(step=3))
    assert sigs(r.iter_frames()) == list(range(N))


def test_packed_b_frames_are_counted_not_ranked(videos):
    # The decoder labels the packed file's frames with guessed pts out of order (the cause of the old
    # "no frame at or after index 0" failure); the reader counts frames instead.
    with av.open(str(videos["avi-mpeg4-packed"])) as c:
        pts = [f.pts for f in c.decode(c.streams.video[0])]
    assert pts[:5] == [1, 3, 2, 5, 4]
    r = VideoReader(videos["avi-mpeg4-packed"])
    assert sigs(r.read([37, 12, 1, 24, 0])) == [37, 12, 1, 24, 0]
    assert r._timeline.rank is None  # no stored pts in an AVI: nothing to rank by


@pytest.mark.parametrize("ext", ["mkv", "mp4"])
def test_variable_frame_rate_times(videos, ext):
    r = VideoReader(videos[f"vfr-{ext}"])
    times = [t / 1000 for t in VFR_PTS]
    assert [r.time_of(i) for i in range(N)] == pytest.approx(times, abs=1e-9)
    assert [r.index_at(t) for t in times] == list(range(N))
    mids = [(a + b) / 2 for a, b in zip(times, times[1:])]
    assert [r.index_at(t) for t in mids] == list(range(N - 1))  # the frame still shown between two pts
    assert r.index_at(-1.0) == 0 and r.index_at(times[-1] + 10) == N - 1
    assert [t for _, t, _ in r.frames()] == pytest.approx(times, abs=1e-9)
    k = r.index_at(1.0)
    assert times[k] <= 1.0 < times[k + 1] and sigs(r.read([k])) == [k]
    with pytest.raises(IndexError, match=f"frame {N} out of range"):
        r.time_of(N)


@pytest.mark.parametrize("ext,rotation", [("mp4", 90), ("mp4", 180), ("mov", 270), ("mkv", 90)])
def test_rotated_phone_video_comes_out_upright(tmp_path, ext, rotation):
    path = write(tmp_path / f"rot.{ext}", "libx264", n=12, rotation=rotation, options={"g": "5"})
    with av.open(str(path)) as c:
        raw = next(c.decode(c.streams.video[0]))
        assert (raw.height, raw.width) == ((H, W) if rotation == 180 else (W, H))  # stored sideways
    r = VideoReader(path)
    assert r.rotation == rotation and r.size == (H, W)
    assert sigs(r.read([11, 3, 0, 7])) == [11, 3, 0, 7]
    small = r.read([5], size=(24, 32))
    assert small.shape == (1, 24, 32, 3) and sigs(small) == [5]
    assert [(i, img.shape) for i, _, img in r.frames(step=4)] == [(0, (H, W, 3)), (4, (H, W, 3)), (8, (H, W, 3))]
    assert sigs(r.iter_frames()) == list(range(12))


def _patch_avi_frames(src: Path, dst: Path, claimed: int) -> Path:
    data = bytearray(src.read_bytes())
    i, j = data.find(b"avih"), data.find(b"strh")
    data[i + 24:i + 28] = struct.pack("<I", claimed)  # avih.dwTotalFrames
    data[j + 40:j + 44] = struct.pack("<I", claimed)  # strh.dwLength
    dst.write_bytes(bytes(data))
    return dst


def _patch_mkv_duration(src: Path, dst: Path, ms: float) -> Path:
    data = bytearray(src.read_bytes())
    k = data.find(b"\x44\x89\x88")  # Segment Duration, an 8-byte float in milliseconds
    data[k + 3:k + 11] = struct.pack(">d", ms)
    dst.write_bytes(bytes(data))
    return dst


@pytest.mark.parametrize("claimed", [200, 10, 0])
def test_header_that_lies_about_the_frame_count(videos, tmp_path, claimed):
    path = _patch_avi_frames(videos["avi-mpeg4-bframes"], tmp_path / "lie.avi", claimed)
    r = VideoReader(path)
    assert r.header_frames == claimed
    assert r.num_frames == N and r.count_frames() == N and r.duration == N / 25
    assert [i for i, _, _ in r.frames()] == list(range(N))
    assert sigs(r.read([N - 2, N - 1, N, N + 50])) == [N - 2, N - 1, N - 1, N - 1]  # past the end: the last frame
    with pytest.raises(InputError, match=rf"lie\.avi: frame {N + 5} is not in the file \(decoded up to frame "
                                         rf"{N - 1}; the file has {N} frames, the header says {claimed}\)"):
        r.read([N - 1, N + 5], required=N + 5)


def test_matroska_duration_that_lies(videos, tmp_path):
    path = _patch_mkv_duration(videos["mkv-h264-bframes"], tmp_path / "lie.mkv", 4000.0)
    r = VideoReader(path)
    assert r.header_frames == 100 and r.num_frames == N
    assert sigs(r.read([N - 1, N + 20])) == [N - 1, N - 1]


@pytest.mark.parametrize("ext,codec", [("mp4", "libx264"), ("avi", "mpeg4")])
def test_truncated_file(tmp_path, ext, codec):
    n = 60
    # Noisy frames at a high bit rate: the data, not the header, makes up most of the file.
    opts, mux = ({"bf": "2", "g": "10"}, {"movflags": "+faststart"}) if ext == "mp4" else ({"b": "4M", "g": "10"}, None)
    full = write(tmp_path / f"full.{ext}", codec, n=n, options=opts, b_frames=2, noise=True, mux=mux).read_bytes()
    path = tmp_path / f"cut.{ext}"
    path.write_bytes(full[: len(full) // 2])
    r = VideoReader(path)
    k = r.num_frames
    assert 5 < k < n and r.header_frames == n
    assert sigs(r.read(range(k))) == list(range(k))  # every frame before the cut
    assert sigs(r.read(range(k - 1, -1, -1))) == list(range(k - 1, -1, -1))
    assert [i for i, _, _ in r.frames()] == list(range(k))
    with pytest.raises(InputError, match=rf"cut\.{ext}: frame {k + 3} is not in the file \(decoded up to frame "
                                         rf"{k - 1}; the file has {k} frames, the header says {n}: the file is "
                                         r"truncated\)"):
        r.read([k - 1, k + 3], required=k + 3)


def test_bad_input_is_one_line_naming_the_file(tmp_path):
    (tmp_path / "text.mp4").write_text("this is not a video\n" * 20)
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "folder.mp4").mkdir()
    with av.open(str(tmp_path / "sound.m4a"), "w") as c:
        s = c.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.rate = 8000
        for p in [*s.encode(frame), *s.encode()]:
            c.mux(p)
    cases = {"text.mp4": r"text\.mp4: cannot open video \(expected a video file such as mp4",
             "empty.mp4": r"empty\.mp4: empty file \(0 bytes\), expected a video",
             "folder.mp4": r"folder\.mp4: is a directory, expected a video file",
             "sound.m4a": r"sound\.m4a: no video stream \(found 1 audio\); expected a video",
             "missing.mp4": r"missing\.mp4: video file not found"}
    for name, pattern in cases.items():
        with pytest.raises(InputError, match=pattern) as e:
            VideoReader(tmp_path / name)
        assert "\n" not in str(e.value) and str(tmp_path / name) in str(e.value)


@pytest.mark.parametrize("name,n", [("test.avi", 164), ("demo.mp4", 280)])
def test_real_videos_match_a_sequential_decode(name, n):
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (real videos live in ../shared/videos next to the project)")
    r = VideoReader(path)
    truth = naive_rgb(path, r)
    assert len(truth) == n and r.num_frames == n
    rng = np.random.default_rng(0)
    order = [int(i) for i in rng.permutation(n)]
    out = r.read(order)  # all frames, in random order
    assert all(np.array_equal(o, truth[i]) for o, i in zip(out, order))
    starts = [int(s) for s in rng.permutation(n - 16)[:8]]
    for s in starts:  # clip-sized windows in random order (backwards and forwards)
        idx = list(range(s, s + 16))
        assert all(np.array_equal(o, truth[i]) for o, i in zip(r.read(idx), idx))
    for i in order[:10]:
        assert np.array_equal(r.read([i])[0], truth[i])
    assert all(np.array_equal(img, truth[i]) for i, _, img in r.frames(step=5))


def test_pts_that_contradict_the_decode_order(videos, tmp_path):
    # A muxer that swapped two frames' pts: the decoder still puts frames out in coded order, so the
    # reader finds its pts rank contradicted by the count, stops ranking and counts.
    path = tmp_path / "swapped.mkv"
    with av.open(str(videos["mp4-h264-bframes"])) as src, av.open(str(path), "w") as dst:
        s = src.streams.video[0]
        out = dst.add_stream_from_template(s)
        packets = [p for p in src.demux(s) if p.size]
        packets[5].pts, packets[6].pts = packets[6].pts, packets[5].pts
        for p in packets:
            p.stream = out
            dst.mux(p)
    r = VideoReader(path)
    truth = naive_rgb(path, r)
    assert sigs(truth) == list(range(N))
    for idx in access_patterns(N):
        assert sigs(r.read(idx)) == idx
    assert r._timeline.rank is None
    assert [i for i, _, _ in r.frames(step=2)] == list(range(0, N, 2))
