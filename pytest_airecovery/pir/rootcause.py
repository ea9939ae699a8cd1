"""Infer the root-cause category and the failure modes from a PIR's root-cause text.

Keyword scoring, deliberately simple and explainable: every category has weighted phrases; the
sentence with the highest score wins and is quoted back, so a reviewer sees *why* a category was
chosen and can correct it. An explicit label always wins over the counts: a ``Category:`` line,
or a root-cause paragraph that opens with a category name ("Adversarial exploitation: ...").
Negated mentions ("No training data changed", "without any config change", "the weights were
unchanged") are removed before scoring, so denying a cause never counts as naming it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CATEGORIES = (
    "training_data_contamination",
    "configuration_error",
    "supply_chain_compromise",
    "adversarial_exploitation",
)

# (regex, weight). Weights favour phrases that only one category uses; "adversarial" alone is
# weak because poisoned *training* samples are often "adversarially crafted" (AI-IR-2026-042).
CATEGORY_CUES: dict[str, tuple[tuple[str, int], ...]] = {
    "training_data_contamination": (
        (r"\b(training|fine[- ]?tuning|train) (data|dataset|set|corpus|samples?)\b", 3),
        (r"\bdata ?set\b.{0,40}\b(contain|includ|had)", 2),
        (r"\bpoison", 3),
        (r"\bcontaminat", 3),
        (r"\bmislabel", 2),
        (r"\blabel (noise|flip)", 2),
        (r"\bbackdoor", 1),
        (r"\b(crafted|injected|malicious) (training )?samples\b", 2),
        (r"\bdata (pipeline|quality|drift)\b", 1),
    ),
    "configuration_error": (
        (r"\bconfig(uration)?\b", 3),
        (r"\bmisconfigur", 4),
        (r"\b(feature )?flag\b", 2),
        (r"\bthreshold\b", 2),
        (r"\bhyper-?parameters?\b", 2),
        (r"\b(setting|parameter)s?\b", 1),
        (r"\bwrong (model )?version\b", 2),
        (r"\b(temperature|system prompt|prompt template)\b", 2),
        (r"\bdeploy(ed|ment)? (with|the wrong)\b", 1),
        (r"\btypo\b", 1),
    ),
    "supply_chain_compromise": (
        (r"\bsupply[- ]chain\b", 4),
        (r"\bthird[- ]party\b", 3),
        (r"\bvendor\b", 3),
        (r"\bupstream\b", 2),
        (r"\b(dependency|package|library|wheel)\b", 2),
        (r"\b(pre-?trained|base) (model|checkpoint|weights)\b.{0,40}\b(download|hub|registry)", 3),
        (r"\b(purchased|bought|licensed|external) (data|dataset|model)", 3),
        (r"\bcompromised (model|package|artifact|checkpoint|dependency)", 3),
        (r"\bhugging ?face\b", 2),
    ),
    "adversarial_exploitation": (
        (r"\bprompt injection\b", 4),
        (r"\bjailbreak", 4),
        (r"\bevasion\b", 3),
        (r"\battackers? (sent|submitted|crafted|used|queried|exploited)", 3),
        (r"\badversarial (inputs?|queries|prompts|examples?)\b", 3),
        (r"\bexploit", 2),
        (r"\bmodel (extraction|inversion|stealing)\b", 3),
        (r"\bat inference\b", 2),
        (r"\badversarial", 1),
    ),
}

# Failure modes a regression case can target: (case id, regex). Order is the case order.
FAILURE_MODES: tuple[tuple[str, str], ...] = (
    ("backdoor-trigger", r"\bbackdoor|\btrigger(ed)? (word|pattern|patch|phrase)"),
    ("prompt-injection", r"\bprompt injection|\binjected instructions?\b"),
    ("jailbreak", r"\bjailbreak"),
    (
        "data-leakage",
        r"\b(data|pii|secret|training data) (leak|exposure|extraction)|\bleak(ed|s)? ",
    ),
    ("toxic-output", r"\btoxic|\bhate speech|\boffensive"),
    ("hallucination", r"\bhallucinat|\bfabricat"),
    ("bias", r"\bbias(ed)?\b|\bunfair|\bdisparate"),
    ("label-flip", r"\bmislabel|\blabel (noise|flip)"),
    ("misclassification", r"\bmisclassif|\bwrong (label|class|prediction)s?"),
    ("refusal-bypass", r"\bbypass|\bevad"),
    ("performance-regression", r"\b(accuracy|quality|latency) (drop|regression|degrad)|\bdegrad"),
    ("drift", r"\bdrift\b"),
)

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


@dataclass(frozen=True)
class Inference:
    category: str  # one of CATEGORIES or "other"
    sentence: str  # the sentence the category came from ("" for "other")
    score: int
    explicit: bool = False


@dataclass(frozen=True)
class FailureMode:
    case_id: str
    sentence: str


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(" ".join(text.split())) if s.strip()]


def infer_category(text: str, explicit: str | None = None) -> Inference:
    if explicit:
        category = explicit_category(explicit)
        if category:
            return Inference(category, f"Category: {explicit}", 0, explicit=True)
    best = Inference("other", "", 0)
    totals = {category: 0 for category in CATEGORIES}
    best_sentence: dict[str, tuple[int, str]] = {}
    for sentence in sentences(text):
        lowered = affirmed(sentence).lower()
        for category, cues in CATEGORY_CUES.items():
            score = sum(weight for pattern, weight in cues if re.search(pattern, lowered))
            totals[category] += score
            if score > best_sentence.get(category, (0, ""))[0]:
                best_sentence[category] = (score, sentence)
    ranked = sorted(CATEGORIES, key=lambda c: (-totals[c], CATEGORIES.index(c)))
    if totals[ranked[0]] > 0:
        best = Inference(ranked[0], best_sentence[ranked[0]][1], totals[ranked[0]])
    return best


_CATEGORY_PREFIXES = (
    ("train", "training_data_contamination"),
    ("data", "training_data_contamination"),
    ("poison", "training_data_contamination"),
    ("config", "configuration_error"),
    ("misconfig", "configuration_error"),
    ("supply", "supply_chain_compromise"),
    ("third", "supply_chain_compromise"),
    ("adversar", "adversarial_exploitation"),
    ("attack", "adversarial_exploitation"),
    ("other", "other"),
)


# Full category names a PIR may open a root-cause paragraph with ("Configuration error: ...").
# Stricter than explicit_category's prefixes: "Data: ...", "Training data: ..." or
# "Configuration: ..." open a description, not a verdict, so they are not labels.
CATEGORY_NAMES: dict[str, str] = {
    "training data contamination": "training_data_contamination",
    "data contamination": "training_data_contamination",
    "training data poisoning": "training_data_contamination",
    "data poisoning": "training_data_contamination",
    "configuration error": "configuration_error",
    "config error": "configuration_error",
    "misconfiguration": "configuration_error",
    "supply chain compromise": "supply_chain_compromise",
    "supply chain": "supply_chain_compromise",
    "supply chain attack": "supply_chain_compromise",
    "adversarial exploitation": "adversarial_exploitation",
    "adversarial attack": "adversarial_exploitation",
    "adversarial": "adversarial_exploitation",
}
_LEADING_LABEL = re.compile(
    r"^\s*(?:\*\*|__)?(?P<label>[A-Za-z][A-Za-z _-]{2,40}?)(?:\*\*|__)?\s*(?:[:—–]|\.(?:\*\*|__))\s*(?:\*\*|__)?"
)


def leading_label(text: str) -> str | None:
    """The category a paragraph opens with: ``Adversarial exploitation: attackers ...`` or
    ``**Configuration error.** The flag ...``; None when its first words are not a category name."""
    match = _LEADING_LABEL.match(text)
    if not match:
        return None
    name = " ".join(re.sub(r"[^a-z]+", " ", match.group("label").lower()).split())
    if name.startswith(
        "root cause "
    ):  # "Root cause: configuration error ..." names it after the colon
        return None
    return CATEGORY_NAMES.get(name) or (
        name.replace(" ", "_") if name.replace(" ", "_") in CATEGORIES else None
    )


def category_in_heading(heading: str) -> str | None:
    """``Root cause: configuration error`` or ``Root Cause (supply chain compromise)`` -> key."""
    match = re.match(r"(?i)^\W*root[- ]causes?(?: category)?\s*[:(—–-]\s*(?P<rest>[^)]*)", heading)
    if not match:
        return None
    name = " ".join(re.sub(r"[^a-z]+", " ", match.group("rest").lower()).split())
    return CATEGORY_NAMES.get(name) or (
        name.replace(" ", "_") if name.replace(" ", "_") in CATEGORIES else None
    )


# Negation. A forward negator ("no", "not", "without", ...) denies the rest of its clause; a
# negated verb phrase ("was not", "unchanged", "ruled out") denies the whole clause, subject
# included: "The training data was not modified" names no training-data cause.
# A bare comma does not end a clause: "No configuration, training data or dependency changed" is
# one negated list. ", and ..." / ", or ..." does.
_CLAUSE_BREAK = re.compile(
    r",(?=\s*(?:and|or|then)\b)|[;:()\[\]—–]|\s-\s|\b(?:but|however|although|though|while|whereas|because|since|so|instead|"
    r"which|that|who|when|after|before|yet|until)\b",
    re.IGNORECASE,
)
_FORWARD_NEGATION = re.compile(
    r"\b(?:no|nobody|nothing|no one|not(?!\s+only\b)|without|never|neither|nor|none|rather than|instead of|ruled out)\b|n't\b",
    re.IGNORECASE,
)
_CLAUSE_NEGATION = re.compile(
    r"\b(?:(?:was|were|is|are|has|have|had|did|does|do|been|be|could|would|will)\s+(?:not|never)|"
    r"(?:was|were|is|are|has|have|had|did|does|do|could|would)n't|unchanged|untouched|unaffected|"
    r"unmodified|intact|ruled out|not (?:the|a) (?:cause|factor)|not involved|played no (?:part|role))\b",
    re.IGNORECASE,
)


def affirmed(sentence: str) -> str:
    """``sentence`` with its negated parts blanked out (same length, so offsets still hold)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for boundary in list(_CLAUSE_BREAK.finditer(sentence)) + [None]:
        end = boundary.start() if boundary else len(sentence)
        clause = sentence[start:end]
        if _CLAUSE_NEGATION.search(clause):
            spans.append((start, end))
        else:
            forward = _FORWARD_NEGATION.search(clause)
            if forward:
                spans.append((start + forward.start(), end))
        start = boundary.end() if boundary else len(sentence)
    chars = list(sentence)
    for begin, end in spans:
        chars[begin:end] = " " * (end - begin)
    return "".join(chars)


def explicit_category(text: str) -> str | None:
    """``Training data contamination``, ``config error``, ``supply_chain_compromise`` -> key."""
    name = re.sub(r"[^a-z]+", "_", text.lower()).strip("_")
    for prefix, category in _CATEGORY_PREFIXES:
        if name.startswith(prefix):
            return category
    return None


def failure_modes(text: str, bullets: list[str]) -> list[FailureMode]:
    """One failure mode per bullet of the root-cause section, else per known mode the text names.

    Falls back to a single ``failure-mode-1`` built on the first sentence, so a skeleton always
    has at least one case to fill in.
    """
    found: list[FailureMode] = []
    used: set[str] = set()
    if len(bullets) > 1:
        for index, bullet in enumerate(bullets, start=1):
            case_id = _mode_id(bullet) or f"failure-mode-{index}"
            if case_id in used:
                case_id = f"{case_id}-{index}"
            used.add(case_id)
            found.append(FailureMode(case_id, " ".join(bullet.split())))
        return found
    for sentence in sentences(text):
        # one case per sentence: "a backdoor that lets messages bypass the filter" is one mode
        mode = _mode_id(affirmed(sentence))
        if mode is not None and mode not in used:
            used.add(mode)
            found.append(FailureMode(mode, sentence))
    if not found:
        first = (sentences(text) or ["TODO: describe the failure mode"])[0]
        found.append(FailureMode("failure-mode-1", first))
    return found


def _mode_id(text: str) -> str | None:
    lowered = text.lower()
    for case_id, pattern in FAILURE_MODES:
        if re.search(pattern, lowered):
            return case_id
    return None
