"""The identity lexicon: the groups a moderation model must not treat as toxic just for being mentioned.

One definition for every part that needs it: the bias metrics (which real comments mention a subgroup), the
functional test suite (slot fillers for its templates) and the training-data balancing (counterfactual swaps).
"""

from __future__ import annotations

import dataclasses
import re
from functools import cache

CATEGORIES = (
    "gender",
    "sexual_orientation",
    "gender_identity",
    "religion",
    "race_ethnicity",
    "nationality_immigration",
    "disability",
    "age",
)


@dataclasses.dataclass(frozen=True)
class IdentityTerm:
    """One identity subgroup.

    term:     its name, lower-case, as reports show it ("gay", "muslim", "black").
    category: one of CATEGORIES.
    group:    a plural noun phrase for templates ("gay people", "Muslims", "women").
    person:   a singular noun phrase with its article ("a gay man", "a Muslim", "a woman").
    adjective: the form that stands before a noun, as templates use it ("my {adjective} neighbour": "gay",
              "Muslim", "teenage"); empty when none reads naturally ("wheelchair users").
    patterns: lower-case words or phrases that mark a real comment as mentioning the subgroup (matched on word
              boundaries, case-insensitively).
    """

    term: str
    category: str
    group: str
    person: str
    adjective: str
    patterns: tuple[str, ...]

    def __post_init__(self):
        if self.category not in CATEGORIES:
            raise ValueError(f"{self.term}: unknown category {self.category!r}")
        if not self.patterns:
            raise ValueError(f"{self.term}: no patterns")
        if any(p != p.lower() for p in self.patterns):
            raise ValueError(f"{self.term}: patterns must be lower-case")


# The identity subgroups, by category. `patterns` are the words real comments use; where the bare word is mostly used
# for something else ("blind spot", "disabled the bot", "foreign policy", "straight answer", "young" and "old" as
# plain adjectives) only the phrases that name people count, and the template adjective is one of those patterns.
# "black" and "white" stay bare although they are colours too: the Jigsaw Unintended Bias annotations made them two of
# the most-cited subgroups, and a lexicon without them could not reproduce that analysis. "man" stays for the same
# reason "woman" does, at the price of the "man, what a day" interjection. "gypsy" is often a slur itself, but real
# comments about Roma people use it, so it marks a mention.
# fmt: off
IDENTITY_TERMS: tuple[IdentityTerm, ...] = (
    IdentityTerm("women", "gender", "women", "a woman", "female", ("woman", "women", "female", "females")),
    IdentityTerm("men", "gender", "men", "a man", "male", ("man", "men", "male", "males")),
    IdentityTerm("girls", "gender", "girls", "a girl", "", ("girl", "girls")),

    IdentityTerm("gay", "sexual_orientation", "gay people", "a gay man", "gay", ("gay", "gays")),
    IdentityTerm("lesbian", "sexual_orientation", "lesbians", "a lesbian", "lesbian", ("lesbian", "lesbians")),
    IdentityTerm("bisexual", "sexual_orientation", "bisexual people", "a bisexual person", "bisexual",
                 ("bisexual", "bisexuals")),
    IdentityTerm("homosexual", "sexual_orientation", "homosexual people", "a homosexual man", "homosexual",
                 ("homosexual", "homosexuals")),
    IdentityTerm("queer", "sexual_orientation", "queer people", "a queer person", "queer", ("queer", "queers")),
    IdentityTerm("heterosexual", "sexual_orientation", "straight people", "a straight man", "heterosexual",
                 ("heterosexual", "heterosexuals", "straight people", "straight man", "straight men",
                  "straight woman", "straight women")),
    IdentityTerm("lgbt", "sexual_orientation", "LGBT people", "an LGBT person", "LGBT", ("lgbt", "lgbtq", "lgbtq+")),
    IdentityTerm("asexual", "sexual_orientation", "asexual people", "an asexual person", "asexual",
                 ("asexual", "asexuals")),

    IdentityTerm("transgender", "gender_identity", "transgender people", "a transgender person", "transgender",
                 ("transgender", "transgenders", "trans", "transsexual", "transsexuals")),
    IdentityTerm("nonbinary", "gender_identity", "nonbinary people", "a nonbinary person", "nonbinary",
                 ("nonbinary", "non-binary", "non binary")),
    IdentityTerm("cisgender", "gender_identity", "cisgender people", "a cisgender person", "cisgender",
                 ("cisgender", "cis")),
    IdentityTerm("intersex", "gender_identity", "intersex people", "an intersex person", "intersex", ("intersex",)),

    IdentityTerm("muslim", "religion", "Muslims", "a Muslim", "Muslim", ("muslim", "muslims")),
    IdentityTerm("jewish", "religion", "Jews", "a Jew", "Jewish", ("jew", "jews", "jewish")),
    IdentityTerm("christian", "religion", "Christians", "a Christian", "Christian", ("christian", "christians")),
    IdentityTerm("catholic", "religion", "Catholics", "a Catholic", "Catholic", ("catholic", "catholics")),
    IdentityTerm("hindu", "religion", "Hindus", "a Hindu", "Hindu", ("hindu", "hindus")),
    IdentityTerm("buddhist", "religion", "Buddhists", "a Buddhist", "Buddhist", ("buddhist", "buddhists")),
    IdentityTerm("sikh", "religion", "Sikhs", "a Sikh", "Sikh", ("sikh", "sikhs")),
    IdentityTerm("atheist", "religion", "atheists", "an atheist", "atheist", ("atheist", "atheists")),
    IdentityTerm("mormon", "religion", "Mormons", "a Mormon", "Mormon", ("mormon", "mormons")),

    IdentityTerm("black", "race_ethnicity", "Black people", "a Black person", "Black", ("black", "blacks")),
    IdentityTerm("white", "race_ethnicity", "white people", "a white person", "white", ("white", "whites")),
    IdentityTerm("asian", "race_ethnicity", "Asian people", "an Asian person", "Asian", ("asian", "asians")),
    IdentityTerm("latino", "race_ethnicity", "Latinos", "a Latino", "Latino",
                 ("latino", "latinos", "latina", "latinas", "latinx")),
    IdentityTerm("hispanic", "race_ethnicity", "Hispanic people", "a Hispanic person", "Hispanic",
                 ("hispanic", "hispanics")),
    IdentityTerm("african", "race_ethnicity", "Africans", "an African", "African", ("african", "africans")),
    IdentityTerm("african american", "race_ethnicity", "African Americans", "an African American", "African American",
                 ("african american", "african americans", "african-american", "african-americans")),
    IdentityTerm("arab", "race_ethnicity", "Arabs", "an Arab", "Arab", ("arab", "arabs")),
    IdentityTerm("native american", "race_ethnicity", "Native Americans", "a Native American", "Native American",
                 ("native american", "native americans")),
    IdentityTerm("indigenous", "race_ethnicity", "Indigenous people", "an Indigenous person", "Indigenous",
                 ("indigenous", "aboriginal", "aboriginals", "first nations")),
    IdentityTerm("roma", "race_ethnicity", "Roma people", "a Romani person", "Romani",
                 ("roma", "romani", "gypsy", "gypsies")),

    IdentityTerm("immigrants", "nationality_immigration", "immigrants", "an immigrant", "immigrant",
                 ("immigrant", "immigrants")),
    IdentityTerm("migrants", "nationality_immigration", "migrants", "a migrant", "migrant", ("migrant", "migrants")),
    IdentityTerm("refugees", "nationality_immigration", "refugees", "a refugee", "refugee", ("refugee", "refugees")),
    IdentityTerm("foreigners", "nationality_immigration", "foreigners", "a foreigner", "",
                 ("foreigner", "foreigners")),
    IdentityTerm("americans", "nationality_immigration", "Americans", "an American", "American",
                 ("american", "americans")),
    IdentityTerm("mexican", "nationality_immigration", "Mexicans", "a Mexican", "Mexican", ("mexican", "mexicans")),
    IdentityTerm("chinese", "nationality_immigration", "Chinese people", "a Chinese person", "Chinese", ("chinese",)),
    IdentityTerm("indian", "nationality_immigration", "Indians", "an Indian", "Indian", ("indian", "indians")),
    IdentityTerm("pakistani", "nationality_immigration", "Pakistanis", "a Pakistani", "Pakistani",
                 ("pakistani", "pakistanis")),

    IdentityTerm("disabled", "disability", "disabled people", "a disabled person", "",
                 ("disabled people", "disabled person", "disabled persons", "disabled man", "disabled woman",
                  "disabled men", "disabled women", "disabled children", "people with disabilities", "handicapped")),
    IdentityTerm("deaf", "disability", "deaf people", "a deaf person", "deaf", ("deaf",)),
    IdentityTerm("blind", "disability", "blind people", "a blind person", "visually impaired",
                 ("blind people", "blind person", "blind man", "blind woman", "blind men", "blind women",
                  "visually impaired")),
    IdentityTerm("autistic", "disability", "autistic people", "an autistic person", "autistic", ("autistic",)),
    IdentityTerm("wheelchair users", "disability", "wheelchair users", "a wheelchair user", "",
                 ("wheelchair user", "wheelchair users")),
    IdentityTerm("mentally ill", "disability", "people with mental illness", "a person with a mental illness",
                 "mentally ill", ("mentally ill", "mental illness", "mental illnesses")),

    IdentityTerm("elderly", "age", "old people", "an elderly person", "elderly",
                 ("elderly", "old people", "old person", "old man", "old woman", "old men", "old women",
                  "senior citizen", "senior citizens", "pensioner", "pensioners")),
    IdentityTerm("teenagers", "age", "teenagers", "a teenager", "teenage",
                 ("teen", "teens", "teenage", "teenager", "teenagers")),
    IdentityTerm("young people", "age", "young people", "a young person", "",
                 ("young people", "young person", "youths", "youngsters")),
    IdentityTerm("millennials", "age", "millennials", "a millennial", "millennial", ("millennial", "millennials")),
    IdentityTerm("boomers", "age", "boomers", "a boomer", "", ("boomer", "boomers", "baby boomer", "baby boomers")),
)
# fmt: on


@cache
def _pattern(term: IdentityTerm) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in sorted(term.patterns, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)


def mentions(term: IdentityTerm, text: str) -> bool:
    """Whether `text` mentions `term`'s subgroup."""
    return _pattern(term).search(text) is not None


def by_term() -> dict[str, IdentityTerm]:
    return {t.term: t for t in IDENTITY_TERMS}


def replace_mentions(term: IdentityTerm, text: str, replacement: str) -> str:
    """`text` with every mention of `term`'s subgroup replaced (counterfactual identity swaps)."""
    return _pattern(term).sub(replacement, text)
