"""Frame-accurate decoding: the barcode painted in each frame must equal the index asked for."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from acrn.data.video import FrameFolder, VideoReader, find_video
from acrn.errors import InputError

NTSC = Fraction(30000, 1001)


@pytest.mark.parametrize("rate", [Fraction(30), NTSC], ids=["30fps", "29.97fps"])
def test_seek_is_frame_accurate_with_start_offset(tmp_path, media, rate):
    path = media.write_video(tmp_path / "v.mp4", 100, rate, offset_s=1.5)
    r = VideoReader(path)
    assert r.rate == rate
    assert r.num_frames == 100
    assert r.size == (48, 80)
    # The 1.5 s offset really is in the container (not silently dropped by the muxer).
    # (the muxer may round it to its own time scale: 1.501 s at 29.97 fps, not a whole frame count)
    assert abs(r.start_time - 1.5) < 1 / rate
    for idx in ([0, 1, 2], [47, 46, 48], [99], [13, 50, 87], [12, 24, 36, 60, 61], [5, 5, 5]):
        frames = r.read(idx)
        assert frames.shape == (len(idx), 48, 80, 3)
        assert [media.read_barcode(f) for f in frames] == idx


def test_every_frame_after_random_seeks(tmp_path, media):
    path = media.write_video(tmp_path / "v.mp4", 64, NTSC, offset_s=0.7, gop=7)
    r = VideoReader(path)
    rng = np.random.default_rng(0)
    for _ in range(15):
        start = int(rng.integers(0, 60))
        idx = list(range(start, min(start + 4, 64)))
        assert [media.read_barcode(f) for f in r.read(idx)] == idx
    assert [media.read_barcode(f) for f in r.iter_frames()] == list(range(64))


def test_decoder_resize(tmp_path, media):
    r = VideoReader(media.write_video(tmp_path / "v.mp4", 10, 30))
    out = r.read([3, 4], size=(24, 160))
    assert out.shape == (2, 24, 160, 3)
    assert [media.read_barcode(f) for f in out] == [3, 4]


def test_past_end_repeats_last_frame_but_key_frame_must_exist(tmp_path, media):
    r = VideoReader(media.write_video(tmp_path / "v.mp4", 20, 30))
    assert [media.read_barcode(f) for f in r.read([18, 19, 20, 25])] == [18, 19, 19, 19]
    with pytest.raises(InputError, match=r"v\.mp4: frame 22 is not in the file"):
        r.read([19, 22], required=22)


def test_missing_truncated_and_garbage_videos(tmp_path, media):
    with pytest.raises(InputError, match=r"nope\.mp4: video file not found"):
        VideoReader(tmp_path / "nope.mp4")
    full = media.write_video(tmp_path / "v.mp4", 60, 30).read_bytes()
    (tmp_path / "garbage.mp4").write_bytes(b"\x00" * 1000)
    with pytest.raises(InputError, match=r"garbage\.mp4: cannot open video"):
        VideoReader(tmp_path / "garbage.mp4")
    # Truncated: the header (moov at the end for this muxer) or the data is cut off.
    (tmp_path / "cut.mp4").write_bytes(full[: len(full) // 2])
    with pytest.raises(InputError, match=r"cut\.mp4"):
        r = VideoReader(tmp_path / "cut.mp4")
        r.read([50], required=50)


def test_frame_folder(tmp_path, media):
    folder = media.write_frames(tmp_path / "vid", 12, "vid_{num:06d}.jpg")
    f = FrameFolder(folder, "vid_{num:06d}.jpg")
    assert f.num_frames == 12 and f.size == (48, 80)
    assert f.file(0).name == "vid_000001.jpg"
    assert [media.read_barcode(x) for x in f.read([0, 11, 5, 5])] == [0, 11, 5, 5]
    assert [media.read_barcode(x) for x in f.iter_frames()] == list(range(12))


def test_frame_folder_bad_files(tmp_path, media):
    folder = media.write_frames(tmp_path / "v", 6, "{num:05d}.png")
    (folder / "00003.png").unlink()
    (folder / "00004.png").write_bytes(b"not a png")
    f = FrameFolder(folder, "{num:05d}.png")
    with pytest.raises(InputError, match=r"00003\.png: missing frame file"):
        f.read([1, 2])
    with pytest.raises(InputError, match=r"00004\.png: unreadable image"):
        f.read([3])
    with pytest.raises(InputError, match="frame folder not found"):
        FrameFolder(tmp_path / "none", "{num:05d}.png")


def test_find_video(tmp_path, media):
    media.write_video(tmp_path / "a.mkv", 3, 30)
    assert find_video(tmp_path, "a").name == "a.mkv"
    assert find_video(tmp_path, "b") is None


def test_frame_folder_reduced_decode(tmp_path, media):
    folder = media.write_frames(tmp_path / "big", 3, "{num:05d}.jpg", h=200, w=400)
    f = FrameFolder(folder, "{num:05d}.jpg")
    assert f.size == (200, 400)
    out = f.read([2, 1], size=(40, 80))  # 1/4-scale JPEG decode, then resize
    assert out.shape == (2, 40, 80, 3) and [media.read_barcode(x) for x in out] == [2, 1]


def _child_uses_opencv() -> None:
    import cv2

    cv2.setNumThreads(1)
    cv2.resize(np.zeros((720, 1280, 3), np.uint8), (455, 256))


def test_fork_after_threaded_opencv_does_not_hang():
    import multiprocessing as mp

    import cv2

    img = np.zeros((720, 1280, 3), np.uint8)
    cv2.setNumThreads(2)
    hung = 0
    for _ in range(6):
        for _ in range(3):
            cv2.resize(img, (455, 256))  # the parent's thread pool is busy before the fork
        p = mp.get_context("fork").Process(target=_child_uses_opencv)
        p.start()
        p.join(20)
        if p.is_alive():
            hung += 1
            p.kill()
            p.join()
    assert hung == 0
    assert cv2.getNumThreads() == 2  # the parent's setting is restored after each fork


def test_times_with_start_offset_and_exact_count(tmp_path, media):
    path = media.write_video(tmp_path / "v.mp4", 45, 30, offset_s=1.5)
    r = VideoReader(path)
    assert r.num_frames == 45 and r._timeline is None  # the mp4 sample table counts: no demux pass needed
    assert r.count_frames() == 45
    assert [r.time_of(i) for i in (0, 1, 44)] == pytest.approx([1.5, 1.5 + 1 / 30, 1.5 + 44 / 30])
    assert [r.index_at(t) for t in (0.0, 1.5, 1.5 + 10.4 / 30, 1.5 + 11 / 30, 99.0)] == [0, 0, 10, 11, 44]
    got = [(i, round(t, 6), media.read_barcode(img)) for i, t, img in r.frames(step=20)]
    assert got == [(0, 1.5, 0), (20, round(1.5 + 20 / 30, 6), 20), (40, round(1.5 + 40 / 30, 6), 40)]


def test_frames_skips_decoding_unwanted_non_reference_frames(tmp_path, media, monkeypatch):
    from acrn.data import video_index

    path = media.write_video(tmp_path / "v.mp4", 60, 30, gop=30)  # libx264's default B-frames (not referenced)
    out: list[int] = []
    indexed = video_index.Decoder.indexed

    def counting(self):
        for idx, frame in indexed(self):
            out.append(idx)
            yield idx, frame

    monkeypatch.setattr(video_index.Decoder, "indexed", counting)
    r = VideoReader(path)
    assert [(i, media.read_barcode(img)) for i, _, img in r.frames(step=4)] == [(i, i) for i in range(0, 60, 4)]
    assert 15 <= len(out) < 50  # the non-reference frames in between never came out of the decoder
    out.clear()
    assert [media.read_barcode(img) for _, _, img in r.frames()] == list(range(60))
    assert out == list(range(60))
    # frames() and iter_frames() run decoders of their own: a read in the middle is not disturbed
    it = r.frames(step=10)
    assert next(it)[0] == 0 and media.read_barcode(r.read([33])[0]) == 33 and next(it)[0] == 10


def test_frame_threads_and_pickled_reader(tmp_path, media):
    import pickle

    path = media.write_video(tmp_path / "v.mp4", 50, NTSC, offset_s=0.4, gop=9)
    r = VideoReader(path, threads=2)
    for idx in ([40, 3, 17], list(range(20, 30)), [49, 0], [8, 8]):
        assert [media.read_barcode(f) for f in r.read(idx)] == idx
    again = pickle.loads(pickle.dumps(r))
    assert again._timeline is None and [media.read_barcode(f) for f in again.read([31, 30])] == [31, 30]
