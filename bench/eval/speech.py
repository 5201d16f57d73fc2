"""Speech with exact ground truth: Harvard sentences spoken by eSpeak NG, some over music.

The Harvard sentences (IEEE Recommended Practice for Speech Quality Measurements, 1969; public
domain) are the standard phonetically balanced test sentences. Each clip is three of them in one
eSpeak NG voice with short pauses between them, and every other clip is mixed with Big Buck
Bunny's soundtrack (a shared clip) at a fixed speech-to-music ratio. eSpeak is a formant
synthesiser: harder for Whisper than a person reading, which is what makes a decoding choice
visible here. The two real speech clips of the shared media, JFK and Obama, are scored beside
them with their published texts (``REAL_SPEECH``).

Deterministic for one eSpeak NG release (Debian 12's 1.51): the same text, voice and rate give
the same samples, and the mix uses fixed offsets. Needs the ``espeak-ng`` program
(``apt-get install espeak-ng``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from bench.eval.sources import media_dir

RATE = 16000
# Harvard lists 1-3 (30 sentences), three to a clip.
HARVARD = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
    "The swan dive was far short of perfect.",
    "The beauty of the view stunned the young boy.",
    "Two blue fish swam in the tank.",
    "Her purse was full of useless trash.",
    "The colt reared and threw the tall rider.",
    "It snowed, rained, and hailed the same morning.",
    "Read verse out loud for pleasure.",
)
SENTENCES_PER_CLIP = 3
# eSpeak NG voice (+variant) and words per minute, one per clip in turn.
VOICES = (
    ("en-us", 160),
    ("en-gb-x-rp+f3", 170),
    ("en-gb-scotland+m3", 150),
    ("en-029+f2", 165),
    ("en-us+m7", 175),
)
PAUSE_S = 0.4
EDGE_S = 0.5  # silence before the first and after the last sentence
MUSIC_CLIP = "bbb_intro_vp8_vorbis.webm"
# Speech-to-music power ratio of the mixed clips: music plainly audible under the voice.
MUSIC_SNR_DB = 10.0
# The shared clips with speech, and what is said in them: JFK's inaugural address (as in
# openai/whisper's tests) and the opening of President Obama's statement of July 14, 2015
# (White House transcript; the clip ends inside "something", so the reference stops at "some").
REAL_SPEECH = (
    ("jfk_inaugural_speech.flac", "And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country."),
    (
        "obama_statement_face_speech.mp4",
        "Today, after two years of negotiations, the United States, together with our international partners, has achieved some",
    ),
)


def _espeak() -> str:
    program = shutil.which("espeak-ng")
    if program is None:
        raise RuntimeError("the speech part of the evaluation set needs the espeak-ng program (apt-get install espeak-ng)")
    return program


def read_audio(path: Path) -> np.ndarray:
    """Any audio or video file as 16 kHz mono float32 (PyAV, as faster-whisper decodes)."""
    from faster_whisper.audio import decode_audio

    return decode_audio(str(path), sampling_rate=RATE)


def spoken(text: str, voice: str, words_per_minute: int) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run([_espeak(), "-v", voice, "-s", str(words_per_minute), "-w", str(wav), text], check=True, capture_output=True)
        return read_audio(wav)


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * RATE), dtype=np.float32)


def mix(speech: np.ndarray, music: np.ndarray, snr_db: float) -> np.ndarray:
    """``speech`` with ``music`` under it, scaled so speech power / music power is ``snr_db``."""
    bed = np.resize(music, speech.shape)  # loops the music when the speech is longer
    voiced = speech[np.abs(speech) > 1e-4]
    gain = np.sqrt(np.mean(voiced**2) / (np.mean(bed**2) * 10 ** (snr_db / 10)))
    mixed = speech + gain * bed
    return (mixed / max(1.0, float(np.abs(mixed).max()))).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray) -> None:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).round().astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm.tobytes())


def clips(only: tuple[int, ...] | None = None) -> list[dict]:
    """The synthetic clips' recipes (all, or those numbered in ``only``): sentences, voice, rate, music."""
    out = []
    for index in range(len(HARVARD) // SENTENCES_PER_CLIP):
        if only is not None and index not in only:
            continue
        voice, rate = VOICES[index % len(VOICES)]
        sentences = HARVARD[index * SENTENCES_PER_CLIP : (index + 1) * SENTENCES_PER_CLIP]
        out.append(
            {
                "file": f"speech_{index:02d}.wav",
                "text": " ".join(sentences),
                "sentences": list(sentences),
                "voice": voice,
                "words_per_minute": rate,
                "music_snr_db": MUSIC_SNR_DB if index % 2 else None,
            }
        )
    return out


def render(recipe: dict, music: np.ndarray) -> np.ndarray:
    parts = [_silence(EDGE_S)]
    for sentence in recipe["sentences"]:
        parts += [spoken(sentence, recipe["voice"], recipe["words_per_minute"]), _silence(PAUSE_S)]
    parts[-1] = _silence(EDGE_S)
    speech = np.concatenate(parts)
    return speech if recipe["music_snr_db"] is None else mix(speech, music, recipe["music_snr_db"])


def build(out_dir: Path, only: tuple[int, ...] | None = None) -> dict:
    """Writes ``speech/*.wav`` and ``speech_truth.json`` into ``out_dir``; returns the truth."""
    folder = Path(out_dir) / "speech"
    folder.mkdir(parents=True, exist_ok=True)
    music = read_audio(media_dir() / MUSIC_CLIP)
    recipes = clips(only)
    for recipe in recipes:
        samples = render(recipe, music)
        write_wav(folder / recipe["file"], samples)
        recipe["duration_s"] = len(samples) / RATE
    truth = {
        "clips": recipes,
        "real": [{"file": str(media_dir() / name), "text": text} for name, text in REAL_SPEECH],
    }
    (Path(out_dir) / "speech_truth.json").write_text(json.dumps(truth, indent=1))
    return truth
