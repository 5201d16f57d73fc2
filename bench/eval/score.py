"""Scoring rules of the evaluation set, shared by ``bench/bench_accuracy.py`` and ``tests/eval``.

Shots: every detector reports shot boundaries as times (the first frame of the new shot). A
hard cut is found by a boundary within ``CUT_TOLERANCE_S`` of it; a gradual transition by a
boundary that falls inside it, widened by the same tolerance on both sides (overlap). Each
boundary finds at most one transition and each transition counts once (greedy, nearest first).
Scores are given for hard cuts and gradual transitions apart and for all transitions together:
for the hard score, boundaries that found a gradual transition are neither right nor wrong
(they are left out), and the other way round.

Text: a reading is split into words; words are compared after case folding and dropping
everything but letters and digits ("12:45" -> "1245"). Recall: the share of the rendered
words read; precision: the share of read words that were rendered. A read word that is two
or more rendered words run together ("JULY14") counts as right, and finds those words.

Speech: word error rate, the word-level edit distance (substitutions, deletions, insertions)
between transcript and reference over the reference's word count, both split into words as
for text (punctuation and case do not count).
"""

from __future__ import annotations

from dataclasses import dataclass

# 0.2 s = 5 frames at 25 fps. Wider than a frame-exact detector needs, because the component
# analyses 8 frames per second and reports the first sampled frame of the new shot (up to
# 0.125 s after the true cut); narrow enough that two boundaries of a 0.4 s shot stay apart.
CUT_TOLERANCE_S = 0.2


@dataclass
class PRF:
    true_positives: int  # actual items found
    predicted: int
    actual: int
    # Predictions that are right, when that differs from true_positives (one read word can
    # stand for two rendered ones); None: the same.
    predicted_right: int | None = None

    @property
    def precision(self) -> float:
        right = self.true_positives if self.predicted_right is None else self.predicted_right
        return right / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.actual if self.actual else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: "PRF") -> "PRF":
        right = None
        if self.predicted_right is not None or other.predicted_right is not None:
            right = sum(p.true_positives if p.predicted_right is None else p.predicted_right for p in (self, other))
        return PRF(self.true_positives + other.true_positives, self.predicted + other.predicted, self.actual + other.actual, right)

    def as_dict(self) -> dict:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1, "tp": self.true_positives, "predicted": self.predicted, "actual": self.actual}


def _window(transition: dict, tolerance: float) -> tuple[float, float]:
    return transition["start_s"] - tolerance, transition["end_s"] + tolerance


def match_boundaries(boundaries: list[float], transitions: list[dict], tolerance: float = CUT_TOLERANCE_S) -> dict[int, int]:
    """Boundary index -> transition index; greedy by distance to the transition's window centre."""
    pairs = []
    for b, t_s in enumerate(boundaries):
        for k, transition in enumerate(transitions):
            lo, hi = _window(transition, tolerance)
            if lo - 1e-9 <= t_s <= hi + 1e-9:
                centre = (transition["start_s"] + transition["end_s"]) / 2
                pairs.append((abs(t_s - centre), b, k))
    matched: dict[int, int] = {}
    used: set[int] = set()
    for _, b, k in sorted(pairs):
        if b not in matched and k not in used:
            matched[b] = k
            used.add(k)
    return matched


def score_shots(boundaries: list[float], transitions: list[dict], tolerance: float = CUT_TOLERANCE_S) -> dict[str, PRF]:
    """PRF for "hard", "gradual" and "all" of one video (see the module docstring)."""
    matched = match_boundaries(boundaries, transitions, tolerance)
    kinds = [t["kind"] for t in transitions]
    out = {}
    for name, kind in (("hard", "cut"), ("gradual", "gradual")):
        tp = sum(1 for k in matched.values() if kinds[k] == kind)
        other = sum(1 for k in matched.values() if kinds[k] != kind)
        out[name] = PRF(tp, len(boundaries) - other, kinds.count(kind))
    out["all"] = PRF(len(matched), len(boundaries), len(transitions))
    return out


def normalise_word(word: str) -> str:
    return "".join(ch for ch in word.casefold() if ch.isalnum())


def words_of(text: str) -> list[str]:
    return [w for w in (normalise_word(w) for w in text.split()) if w]


def score_words(read: list[str], truth: list[str]) -> tuple[PRF, set[int]]:
    """PRF of read words against rendered ones (both normalised), and which rendered words (by
    index) were found. Read words split where the rendering has none ("4 5 0" for the LCD
    digits "450") count as right when together they spell a rendered word."""
    truth_words = [normalise_word(w) for w in truth]
    read = [w for w in read if w]
    found: set[int] = set()
    right = [False] * len(read)
    for r, word in enumerate(read):
        hit = _find(word, truth_words, found)
        if hit:
            right[r] = True
            found.update(hit)
    for i, target in enumerate(truth_words):
        if i in found:
            continue
        for start in range(len(read)):
            joined, end = "", start
            while end < len(read) and not right[end] and len(joined) < len(target):
                joined += read[end]
                end += 1
            if joined == target and end - start > 1:
                right[start:end] = [True] * (end - start)
                found.add(i)
                break
    return PRF(len(found), len(read), len(truth_words), predicted_right=sum(right)), found


def _find(word: str, truth: list[str], found: set[int]) -> list[int]:
    """Indices of the rendered word(s) ``word`` stands for: one word, or consecutive ones run together."""
    for i, w in enumerate(truth):
        if w == word and i not in found:
            return [i]
    for i, w in enumerate(truth):
        if w == word:
            return [i]
    for i in range(len(truth)):
        joined = ""
        for j in range(i, len(truth)):
            joined += truth[j]
            if joined == word and j > i:
                return list(range(i, j + 1))
            if not word.startswith(joined):
                break
    return []


def score_counts(detected: list[int], truth: list[int]) -> PRF:
    """Faces per frame: a frame with d detections and t faces has min(d, t) right."""
    if len(detected) != len(truth):
        raise ValueError(f"{len(detected)} frames detected, {len(truth)} counted by hand: the sampling changed")
    tp = sum(min(d, t) for d, t in zip(detected, truth))
    return PRF(tp, sum(detected), sum(truth))


def word_errors(hypothesis: list[str], reference: list[str]) -> int:
    """Substitutions + deletions + insertions turning ``reference`` into ``hypothesis`` (Levenshtein over words)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]
