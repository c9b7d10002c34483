"""The usage policy: a text classifier that every prompt passes before sampling (notebook 13).

The Sora report plans a text classifier that refuses prompts against a usage policy, and an image
classifier that reviews every generated frame. Here the policy is a file, `data/policy.json`: a
list of rules, each with an `id` and a `reason`, so that a refusal names the rule it applies,
not just "no". `Pipeline.check_prompts` runs `Policy.check` on every prompt BEFORE the caption
language parses it: a blocked word is then refused by its rule, not merely as an unknown word.

Matching is done on a *normalized* prompt, because a person who wants round a blocklist types
`a PURPLE  squаre` (with a Cyrillic а), `a p u r p l e square`, `a purp1e square` or `a purple
squ\u200bare`. `normalize` undoes, in order: compatibility forms (fullwidth `ｐ`, ligatures, math
letters: NFKC), look-alike letters of other scripts (Cyrillic, Greek, small capitals:
`CONFUSABLES`), invisible format characters (zero-width spaces and joiners, soft hyphens),
case, accents and stacked marks, digits and signs for letters (`LEET`; `1`, `!` and `|` may be l
or i, so both readings are tried). Words are then matched on letters only: a run of single
letters (`p u r p l e`, `p-u-r-p-l-e`) is read as one word, repeated letters count once
(`purrrple`), and long terms are also searched with every separator removed (`pur ple`).

Rule kinds: `words` (any of the terms), `combination` (a colour term and a shape term within
`window` words of each other in one object phrase, in either order, or run together), and
`frame_classifier` (applies to frames: `review` asks a frame classifier, the detector's, for the
probability that each frame is generated, and refuses a clip most of whose frames it takes for
world footage). The last is off until a classifier is attached (`with_frame_review`).
"""
from __future__ import annotations

import copy
import json
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from soralite.config import DATA_DIR
from soralite.language import PromptError

POLICY_FILE = DATA_DIR / "policy.json"
RULE_KINDS = {"prompt": ("words", "combination"), "frames": ("frame_classifier",)}
LONG_TERM = 5                       # terms this long are also searched with separators removed
SIZE_WORDS = ("small", "large", "big", "tiny", "little", "huge")   # may sit between colour and shape
PHRASE_BREAKS = ("and",)            # words that start a new object phrase
NO_POLICY_NOTE = ("--no-policy: prompts are not checked against the usage policy (data/policy.json) "
                  "and generated frames are not reviewed; refused subjects can then be made. For "
                  "research on the model's whole distribution only")

# Letters of other scripts that look like Latin ones (a subset of Unicode's confusables, UTS #39).
CONFUSABLES: dict[str, str] = {
    # Cyrillic, lower and upper case
    "а": "a", "в": "b", "г": "r", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h",
    "о": "o", "п": "n", "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ь": "b", "ѕ": "s",
    "і": "i", "ї": "i", "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ӏ": "l", "һ": "h", "ү": "y",
    "А": "a", "В": "b", "Е": "e", "К": "k", "М": "m", "Н": "h", "О": "o", "Р": "p", "С": "c",
    "Т": "t", "У": "y", "Х": "x", "Ѕ": "s", "І": "i", "Ј": "j",
    # Greek, upper case first (casefolding would turn Η into η, which looks like n)
    "Α": "a", "Β": "b", "Ε": "e", "Ζ": "z", "Η": "h", "Ι": "i", "Κ": "k", "Μ": "m", "Ν": "n",
    "Ο": "o", "Ρ": "p", "Τ": "t", "Υ": "y", "Χ": "x",
    "α": "a", "β": "b", "γ": "y", "δ": "d", "ε": "e", "ζ": "z", "η": "n", "ι": "i", "κ": "k",
    "μ": "u", "ν": "v", "ο": "o", "ρ": "p", "σ": "o", "ς": "c", "τ": "t", "υ": "u", "χ": "x",
    "ω": "w",
    # small capitals and other Latin look-alikes that NFKC keeps
    "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ɢ": "g", "ʜ": "h", "ɪ": "i", "ᴊ": "j",
    "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ʀ": "r", "ꜱ": "s", "ᴛ": "t",
    "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z", "ı": "i", "ȷ": "j", "ɑ": "a", "ɡ": "g",
    "ø": "o", "đ": "d", "ł": "l", "ß": "ss",
}
# Digits and signs typed for letters; the ambiguous ones (l or i) are marked and tried both ways.
LEET: dict[str, str] = {"0": "o", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
                        "6": "g", "2": "z", "@": "a", "$": "s", "€": "e", "+": "t", "£": "l"}
AMBIGUOUS = "1!|"                   # each is l or i
AMBIGUOUS_READINGS = ("l", "i")


class PolicyRefusal(PromptError):
    """A prompt (or generated frames) refused by the usage policy; `.refusal` says which rule."""

    def __init__(self, refusal: "Refusal"):
        super().__init__(str(refusal))
        self.refusal = refusal


@dataclass
class Refusal:
    """What the policy refused, by which rule, and why."""

    rule: str                       # the rule's id in data/policy.json
    reason: str
    found: str                      # what matched: "purple + square", "gun", "frames 0, 2"
    prompt: str = ""
    reading: str = ""               # the prompt as normalized, where the match was made
    policy: str = ""                # the policy's file

    def __str__(self) -> str:
        what = f"prompt {self.prompt!r}" if self.prompt else "the generated clip"
        read = (f" (read as {self.reading!r})" if self.reading and self.reading != self.prompt.lower()
                else "")
        return (f"{what} is refused by the usage policy, rule {self.rule!r}: {self.reason}; found "
                f"{self.found}{read}. The rules are in {self.policy or 'the policy'}; --no-policy "
                f"(policy=None) turns the check off, for research")

    def to_dict(self) -> dict:
        return {"rule": self.rule, "reason": self.reason, "found": self.found,
                "prompt": self.prompt, "reading": self.reading}


# ----------------------------------------------------------------------------------------------
# Normalization


def normalize(text: str) -> list[str]:
    """The readings of `text` that rules are matched on: lower-case Latin letters, digits read as
    letters, every other character a space. Usually one; two where `1`, `!` or `|` appear (read
    as l, then as i). `normalize("a PURPLE  squаre")[0] == "a purple square"`."""
    t = unicodedata.normalize("NFKC", text)                     # fullwidth, ligatures, math letters
    t = "".join(CONFUSABLES.get(ch, ch) for ch in t)            # upper-case look-alikes first
    t = "".join(ch for ch in t if unicodedata.category(ch) != "Cf")   # zero-width, soft hyphen
    t = "".join(CONFUSABLES.get(ch, ch) for ch in t.casefold())
    t = "".join(ch for ch in unicodedata.normalize("NFKD", t) if not unicodedata.combining(ch))
    t = "".join(LEET.get(ch, ch) for ch in t)
    readings = []
    for letter in AMBIGUOUS_READINGS:
        r = re.sub(f"[{re.escape(AMBIGUOUS)}]", letter, t)
        r = re.sub(r"[^a-z]+", " ", r).strip()
        if r not in readings:
            readings.append(r)
    return readings


def _squeeze(word: str) -> str:
    """A word with repeated letters counted once: `purrrple` -> `purple`, `yellow` -> `yelow`."""
    return re.sub(r"(.)\1+", r"\1", word)


def words_of(reading: str) -> list[str]:
    """The words of a reading, runs of single letters joined (`a p u r p l e` -> `apurple`) and
    repeated letters squeezed."""
    out: list[str] = []
    run = ""
    for w in reading.split():
        if len(w) == 1:
            run += w
            continue
        if run:
            out.append(run)
            run = ""
        out.append(w)
    if run:
        out.append(run)
    return [_squeeze(w) for w in out]


# ----------------------------------------------------------------------------------------------
# Rules and the policy


@dataclass
class Rule:
    """One rule of the policy file: `id`, `reason`, `applies_to` ("prompt" or "frames"), `kind`."""

    id: str
    reason: str
    kind: str
    applies_to: str = "prompt"
    words: list[str] = field(default_factory=list)          # kind "words"
    colour: list[str] = field(default_factory=list)         # kind "combination"
    shape: list[str] = field(default_factory=list)
    window: int = 3
    enabled: bool = True
    refuse_below: float = 0.5                               # kind "frame_classifier"
    min_share: float = 0.5

    @classmethod
    def from_dict(cls, d: dict, where: str) -> "Rule":
        if not isinstance(d, dict) or not d.get("id") or not d.get("reason"):
            raise ValueError(f"{where}: every rule needs an 'id' and a 'reason' (got {d!r})")
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"{where}: rule {d['id']!r} has unknown keys {sorted(unknown)}; "
                             f"allowed: {', '.join(sorted(known))}")
        rule = cls(**d)
        if rule.applies_to not in RULE_KINDS or rule.kind not in RULE_KINDS[rule.applies_to]:
            raise ValueError(f"{where}: rule {rule.id!r} has applies_to={rule.applies_to!r}, "
                             f"kind={rule.kind!r}; allowed: {RULE_KINDS}")
        if rule.kind == "words" and not rule.words:
            raise ValueError(f"{where}: rule {rule.id!r} (words) lists no words")
        if rule.kind == "combination" and not (rule.colour and rule.shape):
            raise ValueError(f"{where}: rule {rule.id!r} (combination) needs 'colour' and 'shape' terms")
        if rule.kind == "frame_classifier" and not (0 < rule.refuse_below < 1 and 0 < rule.min_share <= 1):
            raise ValueError(f"{where}: rule {rule.id!r} needs refuse_below in (0, 1) and "
                             f"min_share in (0, 1]")
        return rule

    def terms(self, names: list[str]) -> list[str]:
        """Terms as they are matched: normalized like a prompt, separators removed, squeezed."""
        return [_squeeze(normalize(n)[0].replace(" ", "")) for n in names]

    def match(self, reading: str) -> str | None:
        """What of this rule `reading` (one of `normalize`'s) contains, or None."""
        words = words_of(reading)
        if self.kind == "words":
            squashed = "".join(words)
            for term, name in zip(self.terms(self.words), self.words):
                if any(term in w for w in words) or (len(term) >= LONG_TERM and term in squashed):
                    return repr(name)
            return None
        colours, shapes = self.terms(self.colour), self.terms(self.shape)
        sizes = "|".join(_squeeze(s) for s in SIZE_WORDS)
        run_together = re.compile(f"({'|'.join(colours)})(?:{sizes})?({'|'.join(shapes)})")
        phrases, phrase = [], []
        for w in words:
            if w in PHRASE_BREAKS:
                phrases.append(phrase)
                phrase = []
            else:
                phrase.append(w)
        phrases.append(phrase)
        for phrase in phrases:
            at_c = [(i, c) for i, w in enumerate(phrase) for c in colours if c in w]
            at_s = [(i, s) for i, w in enumerate(phrase) for s in shapes if s in w]
            for i, c in at_c:
                for j, s in at_s:
                    if abs(i - j) <= self.window:
                        return f"{c!r} and {s!r} in one object"
            m = run_together.search("".join(phrase))
            if m:
                return f"{m.group(1)!r} and {m.group(2)!r} run together"
        return None


class Policy:
    """A usage policy: its rules, read from a JSON file (`Policy.load`, default `data/policy.json`).

    `check(prompt)` returns a `Refusal` naming the first rule the prompt breaks, or None;
    `review(clips)` does the same for generated frames, where a frame rule is enabled and a
    frame classifier attached (`with_frame_review`)."""

    def __init__(self, rules: list[Rule], name: str = "", source: str = "",
                 frame_classifier: Callable[[np.ndarray], np.ndarray] | None = None):
        self.rules, self.name, self.source = list(rules), name, source
        self.frame_classifier = frame_classifier

    def __repr__(self) -> str:
        return (f"Policy({self.name!r}, rules={[r.id for r in self.rules]}, "
                f"frame_review={'on' if self.reviews_frames else 'off'})")

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> "Policy":
        path = Path(path) if path is not None else POLICY_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"the policy file {path} is not JSON: {e}") from None
        if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
            raise ValueError(f"the policy file {path} must be a JSON object with a 'rules' list")
        rules = [Rule.from_dict(r, str(path)) for r in data["rules"]]
        ids = [r.id for r in rules]
        if len(set(ids)) != len(ids):
            raise ValueError(f"the policy file {path} repeats a rule id: {ids}")
        try:
            source = str(path.resolve().relative_to(DATA_DIR.parent.resolve()))
        except ValueError:
            source = str(path)
        return cls(rules, data.get("name", path.stem), source)

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(f"no rule {rule_id!r} in {self.source}; rules: {[r.id for r in self.rules]}")

    def check(self, prompt: str) -> Refusal | None:
        """The first rule `prompt` breaks, as a `Refusal`, or None where it passes."""
        readings = normalize(prompt)
        for rule in self.rules:
            if rule.applies_to != "prompt" or not rule.enabled:
                continue
            for reading in readings:
                found = rule.match(reading)
                if found:
                    return Refusal(rule.id, rule.reason, found, prompt, reading, self.source)
        return None

    # --- frames ------------------------------------------------------------------------------
    @property
    def frame_rules(self) -> list[Rule]:
        return [r for r in self.rules if r.applies_to == "frames" and r.enabled]

    @property
    def reviews_frames(self) -> bool:
        return bool(self.frame_rules) and self.frame_classifier is not None

    def with_frame_review(self, classifier, rule_ids: list[str] | None = None) -> "Policy":
        """A copy whose frame rules (all, or `rule_ids`) are on and ask `classifier` (a detector,
        or any function of uint8 clips `(N, T, H, W, 3)` giving probabilities `(N, T)`)."""
        policy = copy.deepcopy(Policy(self.rules, self.name, self.source))
        fn = getattr(classifier, "frame_probabilities", classifier)
        policy.frame_classifier = fn
        for r in policy.rules:
            if r.applies_to == "frames" and (rule_ids is None or r.id in rule_ids):
                r.enabled = True
        return policy

    def review(self, clips: np.ndarray) -> Refusal | None:
        """The first frame rule that generated `clips (N, T, H, W, 3)` break, or None. A rule
        `frame_classifier` refuses a clip when at least `min_share` of its frames have a
        probability of being generated below `refuse_below`."""
        if not self.frame_rules:
            return None
        if self.frame_classifier is None:
            raise ValueError(f"the policy's frame rules ({', '.join(r.id for r in self.frame_rules)}) "
                             f"are on, but no frame classifier is attached: use "
                             f"policy.with_frame_review(detector)")
        clips = np.asarray(clips)
        clips = clips[None] if clips.ndim == 4 else clips                    # (N, T, H, W, 3)
        probs = np.asarray(self.frame_classifier(clips), dtype=float)       # (N, T)
        for rule in self.frame_rules:
            low = probs < rule.refuse_below                                  # (N, T)
            for n in np.flatnonzero(low.mean(axis=1) >= rule.min_share):
                frames = np.flatnonzero(low[n])
                found = (f"clip {n}: {len(frames)} of {low.shape[1]} frames scored below "
                         f"{rule.refuse_below:g} (" + ", ".join(f"frame {t}: {probs[n, t]:.2f}"
                                                               for t in frames[:6]) + ")")
                return Refusal(rule.id, rule.reason, found, policy=self.source)
        return None


_DEFAULT: dict[str, Policy] = {}


def default_policy() -> Policy:
    """The example policy of `data/policy.json` (read once; `Pipeline` uses it by default)."""
    if "policy" not in _DEFAULT:
        _DEFAULT["policy"] = Policy.load()
    return _DEFAULT["policy"]


def check(prompt: str, policy: Policy | None = None) -> Refusal | None:
    """`Policy.check` with the example policy where none is given."""
    return (policy or default_policy()).check(prompt)


__all__ = ["POLICY_FILE", "NO_POLICY_NOTE", "CONFUSABLES", "LEET", "PolicyRefusal", "Refusal",
           "Rule", "Policy", "normalize", "words_of", "default_policy", "check"]
