"""Faces counted by hand in the shared clips, per frame sampled at ``FACE_FPS``.

Counted on contact sheets of exactly the frames the ``frames`` component samples at 2 fps
(the first frame at or after each half second, upright, 640 px on the long side). A face
counts when at least half of it is visible and it is at least 10 px tall at that size,
whatever its pose; ``frontal`` is the part of that count seen from the front (both eyes
visible), which is what a frontal-face detector can be held to.
"""

from __future__ import annotations

from dataclasses import dataclass

FACE_FPS = 2.0
FACE_MAX_SIDE = 640


@dataclass(frozen=True)
class FaceCounts:
    clip: str
    faces: tuple[int, ...]  # per sampled frame, in time order
    frontal: tuple[int, ...]
    note: str


COUNTS: tuple[FaceCounts, ...] = (
    # 18 frames, 0-8.5 s: Biden (left) and Obama (right) facing the camera in every frame; the
    # caption band from 2.5 s does not cover them.
    FaceCounts("obama_statement_face_speech.mp4", (2,) * 18, (2,) * 18, "two men at lecterns, 320x240"),
    # 8 frames, 0-3.5 s: one man, close-up, facing the camera; he grimaces (2.0 s) and rolls his
    # head about 20 degrees (1.5 and 3.0 s), still a frontal face.
    FaceCounts("carphone_qcif_face_noaudio.mp4", (1,) * 8, (1,) * 8, "a man in a car, 176x144"),
    # 1 frame: a man in profile and a woman in three-quarter view walking away on a promenade
    # (about 25 px heads); the people on the beach are under 10 px.
    FaceCounts("iphone_hevc10_hlg_rot90_0p09s.mov", (2,), (0,), "two people in profile, portrait phone video"),
    # 5 frames: a living room and a dog in a basket; no person.
    FaceCounts("phone_rot180_vfr.mp4", (0,) * 5, (0,) * 5, "a dog, no person"),
    # 2 frames: people far away in a park, faces under 10 px.
    FaceCounts("park_0p55s.mp4", (0,) * 2, (0,) * 2, "distant people only"),
    # No person at all (cartoon animals, a tree, dark frames, screen recordings).
    FaceCounts("bbb_intro_vp8_vorbis.webm", (0,) * 60, (0,) * 60, "cartoon, no human face"),
    FaceCounts("bbb_h264_aac51.mp4", (0,) * 11, (0,) * 11, "cartoon, no human face"),
    FaceCounts("pigs_in_a_polka_314x273.gif", (0,) * 6, (0,) * 6, "cartoon pigs"),
    FaceCounts("tree_cinepak_noaudio.avi", (0,) * 58, (0,) * 58, "a tree, then a hand"),
    FaceCounts("dark_vp9_opus_noduration.webm", (0,) * 10, (0,) * 10, "near-black"),
    FaceCounts("screenrec_vfr_3026x1386.mp4", (0,) * 11, (0,) * 11, "a video editor's UI; thumbnails show people, faces under 10 px"),
)
