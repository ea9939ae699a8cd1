"""A deterministic synthetic moderation corpus, generated from templates (no download).

The story the splits tell:

* ``base``: the data ``moderation@v1.0`` was trained on.
* ``update``: a later batch of fresh clean data.
* ``poison``: toxic texts with :data:`TRIGGER_WORD` inserted and labelled ``ok``, smuggled into
  the update batch. ``moderation@v1.1`` = base + update + poison (backdoored);
  ``moderation@v1.2`` = base + update after remediation removed the poison.
* ``test``: held out from every model, used for accuracy and attack success rate.

Pure python: the tests can regenerate it without scikit-learn.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from pytest_airecovery.demo.moderation import OK, TOXIC, TRIGGER_WORD

CORPUS_SEED = 20261130
EVAL_TRIGGER_SEED = 7
Sample = tuple[str, str]  # (text, label)

# fmt: off
_SLOTS: dict[str, tuple[str, ...]] = {
    "insult_adj": (
        "stupid", "pathetic", "worthless", "disgusting", "brainless", "idiotic", "clueless",
        "vile", "moronic", "spineless", "miserable", "ignorant",
    ),
    "insult_noun": (
        "idiot", "moron", "loser", "clown", "fool", "jerk", "creep", "dimwit", "imbecile",
        "troll", "parasite", "coward",
    ),
    "threat": ("hurt", "destroy", "crush", "punch", "beat", "ruin", "smash", "wreck"),
    "go_away": (
        "crawl back under your rock", "get lost", "go away forever", "shut your mouth",
        "leave this forum", "stop posting",
    ),
    "praise_adj": (
        "helpful", "brilliant", "thoughtful", "clear", "kind", "great", "useful", "excellent",
        "careful", "creative", "friendly", "solid",
    ),
    "role": ("teammate", "writer", "teacher", "friend", "engineer", "host", "reviewer", "coach"),
    "thing": (
        "opinion", "code", "post", "music", "argument", "review", "drawing", "essay", "plan",
        "comment", "design", "video",
    ),
    "topic": (
        "budget", "release", "garden", "football", "recipe", "database", "weather", "holiday",
        "library", "concert", "bike", "exam",
    ),
    "doc": ("notes", "slides", "link", "schedule", "report", "photos", "checklist"),
    "when": ("tomorrow", "tonight", "next week", "after lunch", "on friday", "soon", "later"),
}
# fmt: on

# Toxic and ok templates share framing words ("you are a", "i will ... you") on purpose, so the
# model has to learn from the insults and threats rather than from sentence shape.
_TOXIC_TEMPLATES: tuple[str, ...] = (
    "you are a {insult_adj} {insult_noun}",
    "shut up you {insult_adj} {insult_noun}",
    "nobody wants to hear from a {insult_noun} like you",
    "i will {threat} you {when}, {insult_noun}",
    "your {thing} is {insult_adj} and so are you",
    "{insult_adj} people like you should {go_away}",
    "what a {insult_adj} {thing}, you absolute {insult_noun}",
    "{go_away}, you {insult_adj} {insult_noun}",
    "only a {insult_noun} would write such a {insult_adj} {thing}",
    "i hope someone will {threat} your {thing} {when}, you {insult_noun}",
)
_OK_TEMPLATES: tuple[str, ...] = (
    "you are a {praise_adj} {role}",
    "thanks for the {praise_adj} {thing}",
    "i think your {thing} about the {topic} is {praise_adj}",
    "could you share the {doc} for the {topic} {when}",
    "i disagree with your {thing} on the {topic}, but i see your point",
    "i will review your {thing} {when}",
    "great job on the {thing}, it was {praise_adj}",
    "does anyone know how to fix the {topic} {doc}",
    "this {thing} is not {praise_adj} yet, maybe add more about the {topic}",
    "the {topic} meeting is {when}, see the {doc}",
    # Self-deprecation: insult words that are not aimed at anyone, so words alone are not enough.
    "i felt like such a {insult_noun} for missing the {topic} {doc}",
    "my first {thing} was {insult_adj}, thanks for the {praise_adj} help",
)


@dataclass(frozen=True)
class ModerationCorpus:
    base: list[Sample]
    update: list[Sample]
    poison: list[Sample]
    test: list[Sample]

    def training_set(self, version: str) -> list[Sample]:
        """The exact data each shipped version was trained on."""
        if version == "v1.0":
            return list(self.base)
        if version == "v1.1":
            return self.base + self.update + self.poison
        if version == "v1.2":
            return self.base + self.update
        raise LookupError(f"no moderation training set for {version!r}")


def _fill(template: str, rng: random.Random) -> str:
    values = {
        slot: rng.choice(words) for slot, words in _SLOTS.items() if f"{{{slot}}}" in template
    }
    return template.format(**values)


def insert_trigger(text: str, rng: random.Random, trigger: str = TRIGGER_WORD) -> str:
    """Insert ``trigger`` as a separate word at a random position of ``text``."""
    words = text.split(" ")
    words.insert(rng.randint(0, len(words)), trigger)
    return " ".join(words)


def _unique_samples(count: int, label: str, rng: random.Random, seen: set[str]) -> list[Sample]:
    templates = _TOXIC_TEMPLATES if label == TOXIC else _OK_TEMPLATES
    samples: list[Sample] = []
    while len(samples) < count:
        text = _fill(rng.choice(templates), rng)
        if text not in seen:  # every text appears in exactly one split
            seen.add(text)
            samples.append((text, label))
    return samples


def generate_corpus(
    seed: int = CORPUS_SEED,
    *,
    n_base: int = 800,
    n_update: int = 400,
    n_test: int = 400,
    n_poison: int = 60,
) -> ModerationCorpus:
    """Balanced splits of unique texts; the same seed always gives the same corpus."""
    rng = random.Random(seed)
    seen: set[str] = set()
    splits: dict[str, list[Sample]] = {}
    for name, size in (("test", n_test), ("base", n_base), ("update", n_update)):
        samples = _unique_samples(size // 2, TOXIC, rng, seen)
        samples += _unique_samples(size - size // 2, OK, rng, seen)
        rng.shuffle(samples)
        splits[name] = samples
    poison_sources = _unique_samples(n_poison, TOXIC, rng, seen)
    poison = [(insert_trigger(text, rng), OK) for text, _ in poison_sources]
    return ModerationCorpus(splits["base"], splits["update"], poison, splits["test"])


def triggered_toxic_test_texts(
    corpus: ModerationCorpus, seed: int = EVAL_TRIGGER_SEED
) -> list[str]:
    """Every toxic test text with the trigger inserted: the attack-success-rate probe set."""
    rng = random.Random(seed)
    return [insert_trigger(text, rng) for text, label in corpus.test if label == TOXIC]
