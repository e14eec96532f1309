"""A behavioural ("functional") test suite for toxicity models, kept as data, in the spirit of HateCheck (Röttger et
al. 2021) but written for this project.

Each functionality is one thing a moderation model should get right: leave neutral and positive mentions of identity
groups alone, flag hate against them (derogation, dehumanisation, threats, slurs), leave alone negated hate and the
counter-speech that quotes hate to reject it, tell untargeted profanity and abuse of non-protected targets from
identity hate, and keep flagging insults when they are obfuscated. Templates with slots ({group}, {person},
{adjective}, ...) expand into cases, one per filler.

Every template belongs to one split. "heldout" templates have their own sentence structures (and the held-out
obfuscation sentences their own toxic words), so a model trained on `training_examples` of the "train" split is still
measured on sentences it never saw: only the held-out figures are honest.

`python -m toxiguard.training.functional` writes the suite to SUITE_FILE; tests check that the file matches the code.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import string
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from toxiguard.artifact import is_flagged
from toxiguard.config import LABELS
from toxiguard.training.identity import IDENTITY_TERMS, by_term

SUITE_FILE = Path(__file__).parent / "resources" / "functional_suite.jsonl"

TRAIN = "train"
HELDOUT = "heldout"
SPLITS = (HELDOUT, TRAIN)

ALLOW = "allow"  # no label may be flagged
FLAG = "flag"  # at least one label must be flagged
ANY = "any"  # the verdict is not judged, only the listed labels
EXPECTATIONS = (ALLOW, FLAG, ANY)

IDENTITY_NEUTRAL = "identity_neutral"
IDENTITY_POSITIVE = "identity_positive"
HATE_DEROGATION = "hate_derogation"
HATE_DEHUMANISATION = "hate_dehumanisation"
HATE_THREAT = "hate_threat"
HATE_SLUR = "hate_slur"
NEGATED_HATE = "negated_hate"
COUNTER_SPEECH = "counter_speech"
PROFANITY_UNTARGETED = "profanity_untargeted"
ABUSE_INDIVIDUAL = "abuse_individual"
ABUSE_NONPROTECTED = "abuse_nonprotected"
OBFUSCATION_CLEAN = "obfuscation_clean"

LEETSPEAK = "leetspeak"
SWAPPED_LETTERS = "swapped_letters"
DELETED_LETTER = "deleted_letter"
DOUBLED_LETTERS = "doubled_letters"
ADDED_SPACES = "added_spaces"
REMOVED_SPACES = "removed_spaces"
MASKED_LETTERS = "masked_letters"
OBFUSCATION_KINDS = (
    LEETSPEAK,
    SWAPPED_LETTERS,
    DELETED_LETTER,
    DOUBLED_LETTERS,
    ADDED_SPACES,
    REMOVED_SPACES,
    MASKED_LETTERS,
)

HATE_FUNCTIONALITIES = (HATE_DEROGATION, HATE_DEHUMANISATION, HATE_THREAT, HATE_SLUR)
IDENTITY_BENIGN = (IDENTITY_NEUTRAL, IDENTITY_POSITIVE)
FUNCTIONALITIES = (
    IDENTITY_NEUTRAL,
    IDENTITY_POSITIVE,
    *HATE_FUNCTIONALITIES,
    NEGATED_HATE,
    COUNTER_SPEECH,
    PROFANITY_UNTARGETED,
    ABUSE_INDIVIDUAL,
    ABUSE_NONPROTECTED,
    OBFUSCATION_CLEAN,
    *(f"obfuscation_{kind}" for kind in OBFUSCATION_KINDS),
)

# The targets `evaluate_suite` checks the held-out figures against.
MAX_IDENTITY_FLAG_RATE = 0.03
MAX_TERM_FLAG_RATE = 0.10
MIN_GROUP_HATE_FLAG_RATE = 0.85
MIN_GROUP_HATE_IDENTITY_RATE = 0.70
MIN_NEGATED_HATE_ALLOWED = 0.50
MIN_COUNTER_SPEECH_ALLOWED = 0.50
MIN_OBFUSCATION_RETENTION = 0.90


@dataclasses.dataclass(frozen=True)
class Template:
    """A sentence with slots; `expected` and `labels` as in Case. Obfuscation templates mark their toxic words in
    brackets ("You are an [idiot].")."""

    id: str
    functionality: str
    text: str
    expected: str
    labels: dict[str, int]
    split: str


@dataclasses.dataclass(frozen=True)
class Case:
    """One test sentence.

    split:        TRAIN or HELDOUT, its template's (fixed by hand per template in _TEMPLATES).
    expected:     ALLOW, FLAG or ANY.
    labels:       label -> 1 (must be flagged) or 0 (must not be); labels not listed are not judged.
    term:         the IdentityTerm.term in the sentence's identity or slur slot, None without one.
    obfuscation:  the obfuscation kind, None for a clean sentence.
    source_case:  for an obfuscated case, the id of the clean case it was made from.
    """

    id: str
    functionality: str
    template_id: str
    split: str
    text: str
    expected: str
    labels: dict[str, int]
    term: str | None
    obfuscation: str | None
    source_case: str | None


# Slot fillers other than identity terms. {slur}/{slurs} take the SLURS below; the others one word list each.
WORD_SLOTS: dict[str, tuple[str, ...]] = {
    "expletive": ("fuck", "shit", "holy shit", "fucking hell", "oh fuck"),
    "insult": ("idiot", "moron", "loser", "imbecile", "clown"),
    # Targets that are not protected groups: professions, sports fans, hobbyists, and products (through their makers).
    "targets": ("referees", "lawyers", "estate agents", "cyclists", "football fans", "landlords"),
    "product": ("printer", "phone app", "browser update", "washing machine"),
}


@dataclasses.dataclass(frozen=True)
class Slur:
    singular: str
    plural: str
    term: str  # the IdentityTerm.term of the group it attacks


# TEST DATA, NOT VOCABULARY TO USE: common slurs against protected groups, needed so the suite can check that a model
# flags them. They appear only in hate_slur templates (and their training examples).
SLURS: tuple[Slur, ...] = (
    Slur("faggot", "faggots", "gay"),
    Slur("dyke", "dykes", "lesbian"),
    Slur("tranny", "trannies", "transgender"),
    Slur("kike", "kikes", "jewish"),
    Slur("raghead", "ragheads", "arab"),
    Slur("nigger", "niggers", "black"),
    Slur("chink", "chinks", "chinese"),
    Slur("spic", "spics", "latino"),
    Slur("wetback", "wetbacks", "mexican"),
    Slur("retard", "retards", "disabled"),
)

# Per functionality: the verdict, the judged labels, and the template sentences of each split. Held-out sentences
# differ in structure from the train ones, not just in a word.
_HATE = {"identity_hate": 1}
_TEMPLATES: dict[str, tuple[str, dict[str, int], dict[str, tuple[str, ...]]]] = {
    IDENTITY_NEUTRAL: (ALLOW, {}, {
        TRAIN: (
            "I am {person}.",
            "{group} live in this town.",
            "My {adjective} neighbour is moving to another city next month.",
            "Several {group} work at the library downtown.",
            "The article is about {group} in the nineteenth century.",
            "As {person}, I have an opinion on the new bus timetable.",
        ),
        HELDOUT: (
            "Being {person} is just one part of who I am.",
            "We interviewed {group} for the history section of the page.",
            "Yesterday I had lunch with our {adjective} colleagues from the Berlin office.",
            "How many {group} took part in the census last year?",
        ),
    }),
    IDENTITY_POSITIVE: (ALLOW, {}, {
        TRAIN: (
            "I am proud to be {person}.",
            "{group} are wonderful people.",
            "I love being {person}.",
            "My {adjective} friends are the kindest people I know.",
            "{group} have made this country a better place.",
            "It is great to see so many {group} in leadership roles.",
        ),
        HELDOUT: (
            "Some of the most generous people I have ever met are {group}.",
            "We should celebrate the achievements of {group}.",
            "Thank you to every {adjective} volunteer who helped at the festival.",
            "Being {person} has taught me patience and kindness.",
        ),
    }),
    HATE_DEROGATION: (FLAG, _HATE, {
        TRAIN: (
            "{group} are disgusting.",
            "I hate {group}.",
            "{group} are all stupid and lazy.",
            "I can't stand {group}, they ruin everything.",
            "Nobody wants {group} around, they are filthy.",
            "Every {adjective} person I have met was a liar and a thief.",
        ),
        HELDOUT: (
            "What is it with {group}? They are so pathetic.",
            "Honestly, {group} make me sick to my stomach.",
            "You can always tell {person} by how dirty and dishonest they are.",
            "Typical {adjective} behaviour, dumb and useless as always.",
        ),
    }),
    HATE_DEHUMANISATION: (FLAG, _HATE, {
        TRAIN: (
            "{group} are vermin.",
            "{group} are animals, not people.",
            "{group} are parasites living off the rest of us.",
            "{group} are a disease spreading through this country.",
            "I don't see {group} as human beings.",
            "{person} is nothing more than a filthy rat.",
        ),
        HELDOUT: (
            "Calling {group} human is an insult to humanity.",
            "This town is infested with {group}.",
            "Like cockroaches, {group} multiply wherever you let them.",
            "{adjective} scum breed like rats.",
        ),
    }),
    HATE_THREAT: (FLAG, {"identity_hate": 1, "threat": 1}, {
        TRAIN: (
            "All {group} should be killed.",
            "I will hurt every {adjective} person I meet.",
            "Someone should shoot {group} before it is too late.",
            "If I see {person} on my street, I will beat them to death.",
            "{group} deserve to be hanged.",
            "We will burn down the houses of {group}.",
        ),
        HELDOUT: (
            "Mark my words: {group} in this city will pay with their lives.",
            "It is time to grab our guns and wipe out {group}.",
            "I'm bringing a knife to the rally, and {group} had better hide.",
            "My plan is simple: find {group} and strangle them one by one.",
        ),
    }),
    HATE_SLUR: (FLAG, _HATE, {
        TRAIN: (
            "{slurs} should go back where they came from.",
            "Get out of my country, you filthy {slur}.",
            "I don't want any {slurs} in my neighbourhood.",
            "Never trust a {slur}.",
            "The {slurs} are taking over this town.",
        ),
        HELDOUT: (
            "Why do {slurs} always smell so bad?",
            "My boss hired another {slur}, unbelievable.",
            "Keep your {slur} kids away from my school.",
        ),
    }),
    NEGATED_HATE: (ALLOW, {}, {
        TRAIN: (
            "I don't hate {group}.",
            "{group} are not disgusting at all.",
            "I would never say that {group} are inferior.",
            "No, {group} are not animals.",
            "I have nothing against {group}.",
            "It is not true that {group} are lazy.",
        ),
        HELDOUT: (
            "Never in my life have I thought {group} were worse than anyone else.",
            "Hating {group} is something I will never do.",
            "There is nothing wrong with being {person}.",
            "My {adjective} coworkers are not stupid, and neither are yours.",
        ),
    }),
    # Counter-speech rejects the hate it quotes without insulting the person who wrote it.
    COUNTER_SPEECH: (ALLOW, {}, {
        TRAIN: (
            "Saying '{group} are vermin' is disgusting and wrong.",
            "Please stop calling {group} animals; it is hateful.",
            "Comments like 'I hate {group}' have no place on this site.",
            "The claim that {group} are parasites is a lie spread to divide us.",
            "When someone says {group} should be killed, we must report it.",
            "I reported the post that said {group} are filth.",
        ),
        HELDOUT: (
            "Anyone who reads a post claiming that {group} are subhuman should report it to the moderators.",
            "History shows where the idea that {group} are vermin leads, and we must never go there again.",
            "To the person who wrote that {group} deserve to die: this community rejects your words.",
            "'Kill all {group}' is not an opinion, it is incitement, and it was rightly removed.",
        ),
    }),
    PROFANITY_UNTARGETED: (ANY, {"obscene": 1, "identity_hate": 0, "threat": 0, "insult": 0}, {
        TRAIN: (
            "{expletive}, I forgot my keys again.",
            "{expletive}, that concert was amazing!",
            "{expletive}, the train is late again.",
            "This shit weather has lasted all week.",
            "I dropped my fucking phone in the sink.",
        ),
        HELDOUT: (
            "Well, {expletive}! We actually won the match.",
            "I spilled coffee all over the keyboard, {expletive}.",
            "My laptop died in the middle of the exam, what a shitty day.",
            "The new season of that show is fucking brilliant.",
        ),
    }),
    ABUSE_INDIVIDUAL: (FLAG, {"insult": 1, "identity_hate": 0}, {
        TRAIN: (
            "You are a worthless {insult}.",
            "Shut up, you pathetic {insult}.",
            "Only a brainless {insult} like you would write this.",
            "Go away, nobody here likes you, you {insult}.",
            "Your edits prove you are the biggest {insult} on this site.",
        ),
        HELDOUT: (
            "Did your mother raise you to be such a useless {insult}?",
            "Every comment you post makes you look like a bigger {insult}.",
            "Hey {insult}, read the sources before you revert me.",
        ),
    }),
    ABUSE_NONPROTECTED: (ANY, {"identity_hate": 0}, {
        TRAIN: (
            "{targets} are idiots.",
            "{targets} are all morons who ruin everything.",
            "I hate {targets}, they are the worst.",
            "Whoever designed this {product} is a complete idiot.",
            "This {product} is a useless piece of garbage made by clowns.",
        ),
        HELDOUT: (
            "Honestly, {targets} are brainless and should all find a real job.",
            "Never trust {targets}; they are lying scumbags.",
            "Ten minutes with this {product} and I wanted to scream at the morons who built it.",
        ),
    }),
}  # fmt: skip

# Short toxic sentences whose bracketed words get obfuscated, with the labels they must raise. The held-out sentences
# use toxic words the train ones do not, so augmenting with obfuscated train words cannot teach the held-out spellings.
_INSULT = {"insult": 1}
_OBSCENE = {"obscene": 1}
_OBFUSCATION_BASES: dict[str, tuple[tuple[str, dict[str, int]], ...]] = {
    TRAIN: (
        ("You are an [idiot].", _INSULT),
        ("What a [stupid] [fucking] idea.", _OBSCENE),
        ("Shut up, you [moron].", _INSULT),
        ("This is complete [bullshit].", _OBSCENE),
        ("Nobody asked you, [loser].", _INSULT),
        ("Go to hell, you [bastard].", _INSULT),
        ("Only a [dimwit] would write this [shit].", {"insult": 1, "obscene": 1}),
        ("You [ignorant] [fool].", _INSULT),
    ),
    HELDOUT: (
        ("Get lost, you [dumb] [asshole].", {"insult": 1, "obscene": 1}),
        ("What a [worthless] [jerk] you are.", _INSULT),
        ("Stop acting like a [dickhead].", _INSULT),
        ("Your reply is [garbage], you [imbecile].", _INSULT),
        ("Get out of here, you [scumbag].", _INSULT),
        ("You are a [pathetic] [coward].", _INSULT),
        ("Take your [crappy] opinions elsewhere.", _OBSCENE),
    ),
}

# What `training_examples` sets to 1 per functionality, besides the labels a case lists as 1 (an obfuscated case lists
# its clean source's labels).
_TRAINING_LABELS: dict[str, tuple[str, ...]] = {
    IDENTITY_NEUTRAL: (),
    IDENTITY_POSITIVE: (),
    NEGATED_HATE: (),
    COUNTER_SPEECH: (),
    HATE_DEROGATION: ("toxic", "insult", "identity_hate"),
    HATE_DEHUMANISATION: ("toxic", "insult", "identity_hate"),
    HATE_SLUR: ("toxic", "insult", "identity_hate"),
    HATE_THREAT: ("toxic", "threat", "identity_hate"),
    ABUSE_INDIVIDUAL: ("toxic", "insult"),
    ABUSE_NONPROTECTED: ("toxic", "insult"),
    PROFANITY_UNTARGETED: ("toxic", "obscene"),
    **{name: ("toxic",) for name in FUNCTIONALITIES if name.startswith("obfuscation_")},
}

_VOWELS = "aeiou"
_LEET = {"a": "4@", "e": "3", "i": "1", "o": "0", "s": "5$"}


def templates() -> list[Template]:
    """Every template, ids numbered per functionality: train templates first, then held-out."""
    result = []
    for functionality, (expected, labels, by_split) in _TEMPLATES.items():
        texts = [(split, text) for split in (TRAIN, HELDOUT) for text in by_split[split]]
        result += [
            Template(f"{functionality}-{number:02d}", functionality, text, expected, labels, split)
            for number, (split, text) in enumerate(texts, 1)
        ]
    bases = [(split, text, labels) for split in (TRAIN, HELDOUT) for text, labels in _OBFUSCATION_BASES[split]]
    result += [
        Template(f"{OBFUSCATION_CLEAN}-{number:02d}", OBFUSCATION_CLEAN, text, FLAG, labels, split)
        for number, (split, text, labels) in enumerate(bases, 1)
    ]
    return result


def _slots(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _fillers(slots: set[str]) -> Iterator[tuple[str | None, dict[str, str], str | None]]:
    """(case-id suffix, slot values, identity term) for each way to fill `slots`."""
    if not slots:
        yield None, {}, None
    elif slots <= {"group", "person", "adjective"}:
        for term in IDENTITY_TERMS:
            if term.adjective or "adjective" not in slots:
                values = {"group": term.group, "person": term.person, "adjective": term.adjective}
                yield term.term, values, term.term
    elif slots <= {"slur", "slurs"}:
        for slur in SLURS:
            yield slur.term, {"slur": slur.singular, "slurs": slur.plural}, slur.term
    else:
        (slot,) = slots
        for word in WORD_SLOTS[slot]:
            yield word, {slot: word}, None


def _capitalise(text: str) -> str:
    """Upper-case the first letter (a sentence may open with a quote mark)."""
    first = re.search(r"[A-Za-z]", text)
    return text if first is None else text[: first.start()] + text[first.start()].upper() + text[first.start() + 1 :]


def _case_id(template_id: str, suffix: str | None) -> str:
    return template_id if suffix is None else f"{template_id}/{suffix.replace(' ', '-')}"


def _swap_adjacent(word: str) -> str:
    """Swap two different adjacent interior letters, starting from the middle ("idiot" -> "idoit")."""
    for i in range((len(word) - 1) // 2, len(word) - 2):
        if i >= 1 and word[i] != word[i + 1]:
            return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word


def _delete_letter(word: str) -> str:
    """Drop the interior vowel nearest the middle, the earlier one on a tie ("moron" -> "mron"); without interior
    vowels, the interior letter nearest the middle."""
    interior = [i for i in range(1, len(word) - 1) if word[i] in _VOWELS] or list(range(1, len(word) - 1))
    if not interior:
        return word
    middle = (len(word) - 1) / 2
    drop = min(interior, key=lambda i: (abs(i - middle), i))
    return word[:drop] + word[drop + 1 :]


def _double_letters(word: str) -> str:
    """Stretch the first interior vowel to three ("stupid" -> "stuuupid")."""
    for i in range(1, len(word) - 1):
        if word[i] in _VOWELS:
            return word[:i] + word[i] * 3 + word[i + 1 :]
    return word


def _leetspeak(word: str) -> str:
    """Digits and symbols for letters; letters with two spellings alternate between them ("asshole" -> "45$h0l3")."""
    out, replaced = [], 0
    for char in word:
        if char in _LEET:
            out.append(_LEET[char][replaced % len(_LEET[char])])
            replaced += 1
        else:
            out.append(char)
    return "".join(out)


def _mask(word: str) -> str:
    """Star out the interior vowels ("idiot" -> "id**t")."""
    return word[0] + "".join("*" if c in _VOWELS else c for c in word[1:-1]) + word[-1]


_WORD_OBFUSCATIONS = {
    LEETSPEAK: _leetspeak,
    SWAPPED_LETTERS: _swap_adjacent,
    DELETED_LETTER: _delete_letter,
    DOUBLED_LETTERS: _double_letters,
    ADDED_SPACES: " ".join,
    MASKED_LETTERS: _mask,
}
_MARKED = re.compile(r"\[([^\]]+)\]")


def obfuscate(marked_text: str, kind: str) -> str:
    """`marked_text` with its [bracketed] words obfuscated by `kind`, brackets removed. REMOVED_SPACES instead runs
    the whole (short) sentence together, the way "youareanidiot" hides the word between its neighbours."""
    if kind == REMOVED_SPACES:
        return _MARKED.sub(r"\1", marked_text).replace(" ", "")
    return _MARKED.sub(lambda m: _WORD_OBFUSCATIONS[kind](m.group(1)), marked_text)


def _expand(template: Template) -> Iterator[Case]:
    obfuscation_base = template.functionality == OBFUSCATION_CLEAN
    text = _MARKED.sub(r"\1", template.text) if obfuscation_base else template.text
    for suffix, values, term in _fillers(_slots(text)):
        case = Case(
            id=_case_id(template.id, suffix),
            functionality=template.functionality,
            template_id=template.id,
            split=template.split,
            text=_capitalise(text.format(**values)),
            expected=template.expected,
            labels=dict(template.labels),
            term=term,
            obfuscation=None,
            source_case=None,
        )
        yield case
        if obfuscation_base:
            for kind in OBFUSCATION_KINDS:
                obfuscated = obfuscate(template.text, kind)
                if obfuscated == case.text:
                    raise ValueError(f"{template.id}: {kind} leaves {case.text!r} unchanged")
                yield dataclasses.replace(
                    case,
                    id=f"{case.id}/{kind}",
                    functionality=f"obfuscation_{kind}",
                    text=obfuscated,
                    obfuscation=kind,
                    source_case=case.id,
                )


def generate_suite() -> list[Case]:
    """All cases, in template order; a text already produced by an earlier case is left out."""
    cases, seen = [], set()
    for template in templates():
        for case in _expand(template):
            if case.text not in seen:
                seen.add(case.text)
                cases.append(case)
    ids = {case.id for case in cases}
    if len(ids) != len(cases):
        raise ValueError("duplicate case ids")
    if any(case.source_case is not None and case.source_case not in ids for case in cases):
        raise ValueError("an obfuscated case lost its clean source to deduplication")
    return cases


def write_suite(cases: Sequence[Case], path: Path = SUITE_FILE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = (json.dumps(dataclasses.asdict(case), ensure_ascii=False) for case in cases)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


_CASE_FIELDS = [field.name for field in dataclasses.fields(Case)]
_TERMS = set(by_term())


def _problem(record: object) -> str | None:
    """What is wrong with one parsed line, or None."""
    if not isinstance(record, dict):
        return "not a JSON object"
    if list(record) != _CASE_FIELDS:
        return f"keys must be {_CASE_FIELDS}, got {list(record)}"
    text_fields = ("id", "template_id", "text")
    if not all(isinstance(record[name], str) and record[name] for name in text_fields):
        return f"{', '.join(text_fields)} must be non-empty strings"
    choices = {"functionality": FUNCTIONALITIES, "split": SPLITS, "expected": EXPECTATIONS}
    for name, allowed in choices.items():
        if record[name] not in allowed:
            return f"{name} must be one of {list(allowed)}, got {record[name]!r}"
    labels = record["labels"]
    if not isinstance(labels, dict) or any(
        k not in LABELS or v not in (0, 1) or isinstance(v, bool) for k, v in labels.items()
    ):
        return f"labels must map labels of {list(LABELS)} to 0 or 1, got {labels!r}"
    if record["term"] is not None and record["term"] not in _TERMS:
        return f"unknown identity term {record['term']!r}"
    if record["obfuscation"] is not None and record["obfuscation"] not in OBFUSCATION_KINDS:
        return f"unknown obfuscation {record['obfuscation']!r}"
    if (record["obfuscation"] is None) != (record["source_case"] is None):
        return "obfuscation and source_case must be given together"
    return None


def load_suite(path: Path | str = SUITE_FILE) -> list[Case]:
    """Read a suite written by `write_suite`; a malformed line raises ValueError naming the file and line."""
    path = Path(path)
    cases, ids = [], set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}, line {number}: not valid JSON ({error.msg})") from None
        problem = _problem(record)
        if problem is None and record["id"] in ids:
            problem = f"duplicate case id {record['id']!r}"
        if problem is not None:
            raise ValueError(f"{path}, line {number}: {problem}")
        ids.add(record["id"])
        cases.append(Case(**record))
    return cases


def _rate(values: Sequence[bool] | np.ndarray) -> float | None:
    """The share of true values, None for none at all."""
    return float(np.mean(values)) if len(values) else None


def _split_figures(cases: Sequence[Case], flagged: np.ndarray, identity_hate: np.ndarray, split: str) -> dict:
    """The report's summary figures and targets for the cases of one split."""

    def indices(functionalities: Sequence[str]) -> list[int]:
        return [i for i, case in enumerate(cases) if case.split == split and case.functionality in functionalities]

    benign = indices(IDENTITY_BENIGN)
    per_term: dict[str, list[int]] = {}
    for i in benign:
        per_term.setdefault(cases[i].term, []).append(i)
    term_rates = {term: {"cases": len(rows), "flag_rate": _rate(flagged[rows])} for term, rows in per_term.items()}
    max_term_rate = max((r["flag_rate"] for r in term_rates.values()), default=None)

    hate = indices(HATE_FUNCTIONALITIES)
    allowed = {name: indices([name]) for name in (NEGATED_HATE, COUNTER_SPEECH)}
    allowed_rates = {name: _rate(~flagged[rows]) for name, rows in allowed.items()}

    position = {case.id: i for i, case in enumerate(cases)}
    obfuscation = {}
    for kind in OBFUSCATION_KINDS:
        rows = indices([f"obfuscation_{kind}"])
        if not rows:
            continue
        missing = [cases[i].source_case for i in rows if cases[i].source_case not in position]
        if missing:
            raise ValueError(f"the clean source case {missing[0]!r} of an obfuscated case is not among the cases")
        recall = _rate(flagged[rows])
        clean_recall = _rate(flagged[[position[cases[i].source_case] for i in rows]])
        retention = recall / clean_recall if clean_recall else 0.0  # no clean case flagged: nothing to retain
        obfuscation[kind] = {"cases": len(rows), "recall": recall, "clean_recall": clean_recall, "retention": retention}

    benign_rate, hate_rate = _rate(flagged[benign]), _rate(flagged[hate])
    hate_identity_rate = _rate(identity_hate[hate])
    figures = {
        "identity_neutral_flag_rate": {
            "cases": len(benign),
            "flag_rate": benign_rate,
            "per_term": term_rates,
            "max_term_flag_rate": max_term_rate,
        },
        "group_hate": {"cases": len(hate), "flag_rate": hate_rate, "identity_hate_rate": hate_identity_rate},
        "negation_counter_speech": {
            name: {"cases": len(rows), "not_flagged_rate": allowed_rates[name]} for name, rows in allowed.items()
        },
        "obfuscation": obfuscation,
    }
    goals = [
        ("identity_neutral_flag_rate", benign_rate, "<=", MAX_IDENTITY_FLAG_RATE),
        ("identity_neutral_max_term_flag_rate", max_term_rate, "<=", MAX_TERM_FLAG_RATE),
        ("group_hate_flag_rate", hate_rate, ">=", MIN_GROUP_HATE_FLAG_RATE),
        ("group_hate_identity_hate_rate", hate_identity_rate, ">=", MIN_GROUP_HATE_IDENTITY_RATE),
        ("negated_hate_not_flagged_rate", allowed_rates[NEGATED_HATE], ">=", MIN_NEGATED_HATE_ALLOWED),
        ("counter_speech_not_flagged_rate", allowed_rates[COUNTER_SPEECH], ">=", MIN_COUNTER_SPEECH_ALLOWED),
    ]
    goals += [
        (f"obfuscation_{kind}_retention", obfuscation.get(kind, {}).get("retention"), ">=", MIN_OBFUSCATION_RETENTION)
        for kind in OBFUSCATION_KINDS
    ]
    figures["targets"] = {
        name: {
            "value": value,
            "goal": goal,
            "threshold": bound,
            # A target with no cases to measure it is not met.
            "met": value is not None and (value <= bound if goal == "<=" else value >= bound),
        }
        for name, value, goal, bound in goals
    }
    return figures


def evaluate_suite(cases: Sequence[Case], scores: np.ndarray, thresholds: dict[str, float]) -> dict:
    """Judge a model's scores (one row per case, columns in LABELS order) on the suite.

    A label is flagged when its score reaches its threshold. A case passes when its expected verdict holds (ALLOW:
    nothing flagged, FLAG: something flagged) and every label it lists is flagged (1) or not (0) as listed.
    The top-level figures and targets are the held-out split's; `train_split` has the same for the train split, which
    a model trained on `training_examples` has seen. `pass_rates` covers both. Rates over no cases are None.
    """
    scores = np.asarray(scores, dtype=float)
    if scores.shape != (len(cases), len(LABELS)):
        raise ValueError(f"scores must have shape ({len(cases)}, {len(LABELS)}), got {scores.shape}")
    missing = [label for label in LABELS if label not in thresholds]
    if missing:
        raise ValueError(f"no threshold for {missing}")
    label_flags = is_flagged(scores, np.array([thresholds[label] for label in LABELS]))
    flagged = label_flags.any(axis=1)
    identity_hate = label_flags[:, LABELS.index("identity_hate")]

    def passes(i: int, case: Case) -> bool:
        verdict = {ALLOW: not flagged[i], FLAG: flagged[i], ANY: True}[case.expected]
        return bool(verdict) and all(label_flags[i, LABELS.index(k)] == bool(v) for k, v in case.labels.items())

    passed = np.array([passes(i, case) for i, case in enumerate(cases)], dtype=bool)
    pass_rates: dict[str, dict[str, dict]] = {}
    for split in SPLITS:
        pass_rates[split] = {}
        for functionality in FUNCTIONALITIES:
            rows = [i for i, c in enumerate(cases) if c.split == split and c.functionality == functionality]
            if rows:
                pass_rates[split][functionality] = {"cases": len(rows), "pass_rate": _rate(passed[rows])}
    return {
        "cases": len(cases),
        "pass_rates": pass_rates,
        **_split_figures(cases, flagged, identity_hate, HELDOUT),
        "train_split": _split_figures(cases, flagged, identity_hate, TRAIN),
    }


def training_examples(cases: Sequence[Case]) -> tuple[list[str], np.ndarray]:
    """Texts and 0/1 label rows (columns in LABELS order) for data augmentation, from train-split cases only.

    Label choices, following how the Jigsaw raters labelled comparable comments:
      identity_neutral, identity_positive, negated_hate, counter_speech: all 0 (the point of those cases);
      hate_derogation, hate_dehumanisation, hate_slur: toxic, insult, identity_hate;
      hate_threat: toxic, threat, identity_hate (a threat need not insult);
      abuse_individual, abuse_nonprotected: toxic, insult (identity_hate stays 0: no protected group);
      profanity_untargeted: toxic, obscene (raters marked most profanity toxic, whoever it was aimed at);
      obfuscation_*: toxic plus the labels the clean sentence lists (insult and/or obscene), the same for the clean
        sentence and each obfuscated copy.
    severe_toxic is never set: these are short single-clause sentences, not the extreme comments it marks.
    Raises ValueError when given held-out cases, so they cannot leak into training.
    """
    heldout = [case.id for case in cases if case.split != TRAIN]
    if heldout:
        raise ValueError(
            f"training_examples takes train-split cases only; got {len(heldout)} others, e.g. {heldout[0]}"
        )
    rows = np.zeros((len(cases), len(LABELS)), dtype=np.uint8)
    for row, case in zip(rows, cases, strict=True):
        positive = set(_TRAINING_LABELS[case.functionality]) | {k for k, v in case.labels.items() if v == 1}
        row[[LABELS.index(label) for label in positive]] = 1
    return [case.text for case in cases], rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m toxiguard.training.functional", description="Write the functional test suite as JSONL."
    )
    parser.add_argument("--out", type=Path, default=SUITE_FILE, help="where to write the JSONL suite")
    args = parser.parse_args(argv)
    cases = generate_suite()
    write_suite(cases, args.out)
    terms = {case.term for case in cases if case.term is not None}
    print(f"wrote {len(cases)} cases ({len(terms)} identity terms) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
