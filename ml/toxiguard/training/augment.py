"""Training-data steps that teach what the Jigsaw sample gets wrong; applied to the training split only.

- Identity balance (Dixon et al. 2018): in the sample, comments that mention some identities ("gay", "muslim")
  are mostly toxic, so the word itself becomes evidence of toxicity. For each identity term whose toxic rate is
  above the base rate, non-toxic comments that mention another term of the same category are copied with this
  term swapped in (a counterfactual swap), until the term's toxic rate is near the base rate.
- Identity frames: copies of randomly chosen comments, toxic or not, with a sentence that only mentions an
  identity around them ("As a Muslim, ..."), labels unchanged. The mention becomes independent of every label,
  so the model has to find toxicity in what is said, not in who is named.
- Group statements: sentences about groups composed from shared frames and interchangeable predicates, benign
  (praise, facts, negated or rejected hate) and hateful (contempt, dehumanisation, violence), about protected
  groups and about groups that are not protected (referees, landlords). The frame and the group are the same on
  both sides, so only what is said of the group tells them apart: hate aimed at a protected group gets
  `identity_hate`, the same words about referees only `toxic` and `insult`.
- Template examples (opt-in): the functional suite's *train* templates; its held-out templates are never trained
  on and stay the honest measure.
- Obfuscation: copies of comments with their most toxic-sounding words misspelt the ways abusers do, labels
  unchanged, so "stuupid" and "f*ck" keep their meaning. The misspellings are drawn at random, not by the
  functional suite's fixed rules, and from the training comments, never from the suite's sentences.
"""

from __future__ import annotations

import logging
import re

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer

from toxiguard.config import LABELS
from toxiguard.training import functional, identity
from toxiguard.training.baseline import log_count_ratio
from toxiguard.training.data import LabelledData
from toxiguard.training.fairness import subgroup_masks

log = logging.getLogger(__name__)

MAX_SWAPS_PER_TERM = 1500
FRAMED_FRACTION = 0.12  # of the training rows, chosen whatever their labels
GROUP_STATEMENTS = 10000
# The kinds of added rows, as named in the summary `augment` returns.
AUGMENTATION_KINDS = ("identity_balance", "identity_frames", "group_statements", "templates", "obfuscation")
# Deliberately unlike the functional suite's templates, whose held-out part measures what this teaches.
IDENTITY_FRAMES = (
    ("As {person}, I have this to say. ", ""),
    ("I am {person}. ", ""),
    ("Speaking as {person}: ", ""),
    ("", " (Written by {person}.)"),
    ("", " I say this as {person}."),
    ("Many {group} read this page. ", ""),
    ("", " Some {group} in my family agree."),
    ("My {adjective} neighbour sent me here. ", ""),
)
OBFUSCATED_FRACTION = 0.15  # of the toxic rows; as many clean rows are obfuscated too, so misspelling is no signal
TOXIC_WORDS = 400  # the words with the highest toxic log-count ratio are the ones obfuscated
TOXIC = LABELS.index("toxic")
_WORD = re.compile(r"[A-Za-z]{4,}")


def identity_balance(texts: list[str], labels: np.ndarray, rng: np.random.Generator) -> tuple[list[str], dict]:
    """Non-toxic counterfactual copies that bring each identity term's toxic rate towards the base rate."""
    base_rate = float(labels[:, TOXIC].mean())
    clean = ~labels.any(axis=1)
    masks = subgroup_masks(texts)
    added: list[str] = []
    summary = {}
    for term in identity.IDENTITY_TERMS:
        mentions = masks[term.term]
        toxic = int((mentions & (labels[:, TOXIC] == 1)).sum())
        needed = min(int(np.ceil(toxic / base_rate)) - int(mentions.sum()), MAX_SWAPS_PER_TERM)
        donors = [
            (other, index)
            for other in identity.IDENTITY_TERMS
            if other.category == term.category and other.term != term.term
            for index in np.flatnonzero(masks[other.term] & clean & ~mentions)
        ]
        if needed <= 0 or not donors:
            continue
        picks = rng.choice(len(donors), size=needed, replace=len(donors) < needed)
        replacement = term.adjective.lower() or term.group.lower()
        for pick in picks:
            other, index = donors[pick]
            added.append(identity.replace_mentions(other, texts[index], replacement))
        summary[term.term] = {"mentions": int(mentions.sum()), "toxic": toxic, "added": int(needed)}
    return added, {"base_toxic_rate": base_rate, "terms": summary}


def identity_frames(
    texts: list[str], labels: np.ndarray, rng: np.random.Generator
) -> tuple[list[str], np.ndarray, dict]:
    """Copies of some rows framed by an identity mention (random term and frame), labels unchanged."""
    chosen = rng.choice(len(texts), int(len(texts) * FRAMED_FRACTION), replace=False)
    terms = identity.IDENTITY_TERMS
    framed = []
    for index in chosen:
        term = terms[rng.integers(len(terms))]
        frames = [f for f in IDENTITY_FRAMES if term.adjective or "{adjective}" not in "".join(f)]
        before, after = frames[rng.integers(len(frames))]
        slots = {"person": term.person, "group": term.group, "adjective": term.adjective}
        framed.append(before.format(**slots) + texts[index] + after.format(**slots))
    return framed, labels[chosen], {"rows": len(framed)}


# Frames put a group (G) and a predicate (P: "are kind", "should be shot") together; every frame serves benign and
# hateful predicates alike. Written for training only, away from the functional suite's held-out wording.
STATEMENT_FRAMES = (
    "{G} {P}.",
    "I think {G} {P}.",
    "Honestly, {G} {P}.",
    "Everyone here knows that {G} {P}.",
    "In my town, {G} {P}.",
    "Let me be clear: {G} {P}.",
    "My uncle always says {G} {P}.",
    "After reading this thread I am sure {G} {P}.",
    "{G} {P}, and that is a fact.",
    "Trust me, {G} {P}.",
    "Have you noticed {G}? They {P}.",
    "I met some {G} last week. They {P}.",
    "Say what you want, but {G} {P}.",
    "It has been proven again and again: {G} {P}.",
)
# Plain mentions: who someone is, nothing said of the group. Short sentences like these were flagged most.
MENTION_FRAMES = (
    "I am {person}.", "My {relation} is {person}.", "My {relation} is {adjective}.", "We are {group}.",
    "Our new {relation} is {person}.", "{Person} lives next door.", "She is {person}.", "He is {adjective}.",
    "I married {person}.", "My {relation} and I are both {adjective}.", "Yes, I am {adjective}.",
)  # fmt: skip
RELATIONS = (
    "neighbour",
    "teacher",
    "doctor",
    "best friend",
    "boss",
    "cousin",
    "roommate",
    "coach",
    "dentist",
    "colleague",
)
NEGATION_FRAMES = (
    "I don't hate {G}.",
    "I do not hate {G}.",
    "I have nothing against {G}.",
    "It is not true that {G} {P}.",
    "I would never claim that {G} {P}.",
    "Nobody sensible believes {G} {P}.",
    "People who say {G} {P} are simply wrong.",
    "Stop spreading the lie that {G} {P}.",
    "Posts saying {G} {P} break the rules of this site.",
    "I was raised to believe {G} {P}, and I was taught wrong.",
    "Whoever wrote that {G} {P} should be ashamed of that post.",
    "My grandfather thought {G} {P}; he was a bigot and I am not.",
    "Is it fair to say {G} {P}? Of course not.",
)
BENIGN_PREDICATES = (
    "are kind", "are hard-working", "are welcome here", "are our neighbours and friends", "deserve respect",
    "have the same rights as everyone else", "make this city a better place", "are people like anyone else",
    "run many of the shops on this street", "volunteer at the library", "have a long history in this region",
    "are an important part of our community", "often help new editors", "wrote some of the best articles here",
    "deserve to be safe", "are welcome at our meetings", "raise their children with love",
    "are just as smart as anybody", "are underrepresented in this article", "were mentioned in the census report",
    "inspire me every day", "have been great friends to me", "built this neighbourhood", "cooked us dinner",
    "are brilliant scientists", "won three medals this year", "are the reason I love this city",
)  # fmt: skip
CONTEMPT_PREDICATES = (
    "are stupid", "are worthless", "are disgusting", "are filthy liars", "ruin everything they touch",
    "are lazy and useless", "are a plague on this country", "should not be allowed to vote",
    "are too dumb to think", "are all criminals", "are pathetic losers", "should be ashamed to exist",
    "are inferior to the rest of us", "are ugly and stupid", "make me want to throw up",
    "are a disgrace to this country", "are born liars", "are too stupid to live here", "are freaks of nature",
    "poison every place they move into", "are the worst people on earth", "are a waste of oxygen",
)  # fmt: skip
DEHUMANISING_PREDICATES = (
    "are animals", "are vermin", "are rats", "are not human", "are a disease", "are parasites",
    "are subhuman", "are savages", "are nothing but dirt", "are a cancer on society", "are beasts",
    "are less than human", "are trash that should be taken out",
)  # fmt: skip
VIOLENT_PREDICATES = (
    "should be killed", "should be shot", "should all be hanged", "deserve to be beaten",
    "should be exterminated", "should be burned alive", "need to be hunted down", "must be eliminated",
    "deserve a bullet", "should be gassed", "will be killed if they show up here", "should be stabbed",
    "will regret ever moving here when we come for them", "should watch their backs from now on",
    "will not survive the next riot", "are going to get what they deserve, a beating",
    "had better leave before we make them", "will be dragged out of their homes",
)  # fmt: skip
UNPROTECTED_GROUPS = (
    "referees", "landlords", "politicians", "lawyers", "critics", "bankers", "tourists", "journalists",
    "the admins", "the moderators of this page", "football fans", "my coworkers", "spammers", "influencers",
)  # fmt: skip


def group_statements(rng: np.random.Generator, count: int) -> tuple[list[str], np.ndarray, dict]:
    """`count` sentences about groups, as described in the module docstring, with their labels."""
    toxic, insult, threat, hate = (LABELS.index(n) for n in ("toxic", "insult", "threat", "identity_hate"))
    kinds = {  # name -> (frames, predicates, positive labels)
        "mention": (MENTION_FRAMES, ("",), ()),
        "benign": (STATEMENT_FRAMES, BENIGN_PREDICATES, ()),
        "negated": (NEGATION_FRAMES, CONTEMPT_PREDICATES + DEHUMANISING_PREDICATES + VIOLENT_PREDICATES, ()),
        "contempt": (STATEMENT_FRAMES, CONTEMPT_PREDICATES, (toxic, insult)),
        "dehumanising": (STATEMENT_FRAMES, DEHUMANISING_PREDICATES, (toxic, insult)),
        "violent": (STATEMENT_FRAMES, VIOLENT_PREDICATES, (toxic, threat)),
    }
    shares = {"mention": 0.15, "benign": 0.25, "negated": 0.2, "contempt": 0.13, "dehumanising": 0.13, "violent": 0.14}
    names = list(kinds)
    picks = rng.choice(len(names), size=count, p=[shares[n] for n in names])
    texts, labels = [], np.zeros((count, len(LABELS)), np.uint8)
    counts = dict.fromkeys(names, 0)
    for row, pick in enumerate(picks):
        name = names[pick]
        frames, predicates, positives = kinds[name]
        protected = rng.random() < 0.8 or name == "mention"
        term = identity.IDENTITY_TERMS[rng.integers(len(identity.IDENTITY_TERMS))]
        group = term.group if protected else UNPROTECTED_GROUPS[rng.integers(len(UNPROTECTED_GROUPS))]
        usable = [f for f in frames if term.adjective or "{adjective}" not in f]
        text = usable[rng.integers(len(usable))].format(
            G=group, P=predicates[rng.integers(len(predicates))], person=term.person, Person=term.person.capitalize(),
            group=term.group, adjective=term.adjective, relation=RELATIONS[rng.integers(len(RELATIONS))],
        )  # fmt: skip
        if rng.random() < 0.3:  # people often leave the full stop out
            text = text.rstrip(".")
        texts.append(text[0].upper() + text[1:])
        labels[row, list(positives)] = 1
        if positives and protected:
            labels[row, hate] = 1
        counts[name] += 1
    return texts, labels, {"rows": count, "kinds": counts}


_LEET = {"a": "4@", "e": "3", "i": "1!", "o": "0", "s": "5$", "t": "7"}


def _leet(word: str, rng: np.random.Generator) -> str:
    return "".join(
        _LEET[c][rng.integers(len(_LEET[c]))] if c in _LEET and rng.random() < 0.6 else c for c in word.lower()
    )


def _swap(word: str, rng: np.random.Generator) -> str:
    i = int(rng.integers(1, len(word) - 2)) if len(word) > 3 else 0
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def _delete(word: str, rng: np.random.Generator) -> str:
    i = int(rng.integers(1, len(word) - 1))
    return word[:i] + word[i + 1 :]


def _stretch(word: str, rng: np.random.Generator) -> str:
    i = int(rng.integers(len(word)))
    return word[:i] + word[i] * int(rng.integers(2, 5)) + word[i + 1 :]


def _spell_out(word: str, rng: np.random.Generator) -> str:
    return " .-"[rng.integers(3)].join(word)


def _mask(word: str, rng: np.random.Generator) -> str:
    positions = rng.choice(np.arange(1, len(word) - 1), size=min(2, len(word) - 2), replace=False)
    return "".join("*" if i in positions else c for i, c in enumerate(word))


def _glue(word: str, rng: np.random.Generator) -> str:
    return word + "\0"  # the space after the word is removed by `obfuscated_copies`


WORD_OBFUSCATIONS = (_leet, _swap, _delete, _stretch, _spell_out, _mask, _glue)


def toxic_words(texts: list[str], labels: np.ndarray, count: int = TOXIC_WORDS) -> set[str]:
    """The words most indicative of the toxic label (NB log-count ratio, seen at least 10 times)."""
    vectorizer = CountVectorizer(lowercase=True, token_pattern=r"[a-z]{3,}", min_df=10, binary=True)
    try:
        x = vectorizer.fit_transform(texts)
    except ValueError:  # no word is frequent enough (a tiny training file)
        return set()
    ratio = log_count_ratio(x, labels[:, TOXIC])
    words = vectorizer.get_feature_names_out()
    return set(words[np.argsort(-ratio)[:count]])


def obfuscated_copies(
    texts: list[str], labels: np.ndarray, rng: np.random.Generator
) -> tuple[list[str], np.ndarray, dict]:
    """Copies of some toxic rows (and as many clean ones) with their toxic-sounding words obfuscated."""
    vocabulary = toxic_words(texts, labels)
    toxic_rows = np.flatnonzero(labels[:, TOXIC] == 1)
    clean_rows = np.flatnonzero(~labels.any(axis=1))
    size = min(int(len(toxic_rows) * OBFUSCATED_FRACTION), len(clean_rows))
    chosen = np.concatenate([rng.choice(toxic_rows, size, replace=False), rng.choice(clean_rows, size, replace=False)])
    copies, rows = [], []
    for index in chosen:
        obfuscate = WORD_OBFUSCATIONS[rng.integers(len(WORD_OBFUSCATIONS))]

        def replace(match: re.Match, obfuscate=obfuscate) -> str:
            word = match.group(0)
            return obfuscate(word, rng) if word.lower() in vocabulary or rng.random() < 0.05 else word

        copy = _WORD.sub(replace, texts[index]).replace("\0 ", "").replace("\0", "")
        if copy != texts[index]:
            copies.append(copy)
            rows.append(index)
    return copies, labels[rows], {"rows": len(copies), "toxic_words": len(vocabulary)}


def augment(train: LabelledData, seed: int, suite_templates: bool = False) -> tuple[LabelledData, dict]:
    """The training split plus the added rows; the summary says how many of each kind.

    `suite_templates` adds the functional suite's train-part templates. Off by default: with six structures per
    functionality they taught the model sentence shapes, and held-out benign statements shaped like a hateful
    train template were flagged (docs/model-quality.md).
    """
    rng = np.random.default_rng(seed)
    balanced, balance_summary = identity_balance(train.texts, train.labels, rng)
    template_cases = [c for c in functional.load_suite() if c.split == functional.TRAIN] if suite_templates else []
    template_texts, template_labels = functional.training_examples(template_cases)
    framed, framed_labels, frames_summary = identity_frames(train.texts, train.labels, rng)
    statements, statement_labels, statements_summary = group_statements(rng, GROUP_STATEMENTS)
    obfuscated, obfuscated_labels, obfuscation_summary = obfuscated_copies(train.texts, train.labels, rng)
    texts = train.texts + balanced + framed + statements + template_texts + obfuscated
    labels = np.vstack(
        [
            train.labels,
            np.zeros((len(balanced), len(LABELS)), np.uint8),
            framed_labels,
            statement_labels,
            template_labels,
            obfuscated_labels,
        ]
    ).astype(np.uint8)
    ids = train.ids + [f"augmented-{i}" for i in range(len(texts) - len(train))]
    summary = {
        "identity_balance": {**balance_summary, "rows": len(balanced)},
        "identity_frames": frames_summary,
        "group_statements": statements_summary,
        "templates": {"rows": len(template_texts), "split": functional.TRAIN, "used": suite_templates},
        "obfuscation": obfuscation_summary,
        "rows_before": len(train),
        "rows_after": len(texts),
    }
    log.info(
        "augmented the training split: %d rows + %d identity swaps + %d identity frames + %d group statements"
        " + %d template rows + %d obfuscated copies",
        len(train), len(balanced), len(framed), len(statements), len(template_texts), len(obfuscated),
    )  # fmt: skip
    return LabelledData(train.source, train.sha256, ids, texts, labels, dict(train.dropped)), summary
