"""faster-whisper's ``WhisperModel``, encoding the first 30 s window once when it detects the language.

faster-whisper 1.1-1.2 detects the language by encoding the first window, then transcribes by
encoding that window again: ``detect_language`` does not hand its encoder output on to
``generate_segments``. On the CPU the encoder is the bulk of a short clip's cost (0.88 s of
Obama's 2.05 s, measured), so a clip under 30 s paid for Whisper twice. This module imports
faster-whisper at the top, so only the model loader imports it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.audio import pad_or_trim

from dp_resources.models.whisper import UnknownLanguageError


@dataclass(frozen=True)
class Transcription:
    segments: list  # faster-whisper Segments, decoded
    language: str
    language_probability: float
    encoder_passes: int  # how many 30 s windows went through the encoder


class WhisperBase(WhisperModel):
    """A ``WhisperModel`` whose :meth:`transcribe_once` encodes each window once."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._local = threading.local()  # the window this thread already encoded, per call

    def encode(self, features: np.ndarray):
        self._local.passes = getattr(self._local, "passes", 0) + 1
        known = getattr(self._local, "known", None)
        if known is not None and features.shape == known[0].shape and np.array_equal(features, known[0]):
            self._local.passes -= 1  # served from the detection's pass
            return known[1]
        return super().encode(features)

    def transcribe_once(self, audio: np.ndarray, language: str | None, candidates: tuple[str, ...] | None = None, **options) -> Transcription:
        """``transcribe`` with the language detected on the first window's one encoder pass
        (among ``candidates`` only, when given; the probability is Whisper's among all languages).

        The window is built as ``generate_segments`` builds its first one (the feature
        extractor's last frame is not content there), so the transcription finds it already
        encoded; should faster-whisper build it differently, the window is simply encoded again.
        """
        self._local.passes = 0
        probability = 1.0
        try:
            if language is None and self.model.is_multilingual:
                # The whole audio's features, as transcribe computes them (Whisper's log-mel is
                # clipped relative to the whole clip's maximum, so the first 30 s alone would differ);
                # only the window is kept, so an hour of speech holds them once at a time.
                features = self.feature_extractor(audio)
                window = pad_or_trim(features[:, : min(self.feature_extractor.nb_max_frames, features.shape[-1] - 1)]).copy()
                del features
                encoded = self.encode(window)
                # [("<|en|>", probability), ...], every language Whisper knows, most likely first.
                detected = [(token[2:-2], p) for token, p in self.model.detect_language(encoded)[0]]
                if candidates:
                    unknown = sorted(set(candidates) - {code for code, _ in detected})
                    if unknown:
                        raise UnknownLanguageError(f"transcript.languages: {', '.join(unknown)} not among the languages Whisper knows")
                    detected = [(code, p) for code, p in detected if code in candidates]
                language, probability = detected[0]
                self._local.known = (window, encoded)
            segments, info = self.transcribe(audio, language=language, **options)
            decoded = list(segments)  # the generator encodes as it goes
            return Transcription(decoded, info.language, float(probability), self._local.passes)
        finally:
            self._local.known = None
