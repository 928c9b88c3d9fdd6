"""Synthetic speakers: each a fixed eSpeak NG voice variant, pitch, pitch range, rate and word gap.

A speaker belongs to one dialect group and one split, so train, dev and test are
speaker-disjoint by construction. Gender follows the variant (eSpeak's ``!v``
variant files declare it); the age band shifts the prosody: older speakers speak
more slowly with a narrower pitch range, and the ``60+`` band may use eSpeak's
``grandma``/``grandpa`` variants (tremulous, breathy).

Variants were screened on Mandarin pinyin input: those that change eSpeak's
stress lengths (``Andrea``, ``anika``, ``antonio``, ``pedro``), robotic or
whispered ones (``robosoft*``, ``UniRobot``, ``whisper*``, ``Demonic``) and a
child-like one (``zac``) are left out, because they distort or shorten the
lexical tones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from asr.corpus.common import AGE_BANDS as COMMON_AGE_BANDS
from asr.corpus.synthetic.dialects import get_dialect
from asr.corpus.synthetic.espeak import VoiceSettings

FEMALE_VARIANTS = ("f1", "f2", "f3", "f4", "f5", "Alicia", "Annie", "aunty", "belinda", "linda", "steph", "steph2", "steph3")
MALE_VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "Andy", "Lee", "Denis", "Diogo", "Henrique", "Mario",
    "Michael", "Gene", "Jacky", "Reed", "adam", "benjamin", "boris", "edward", "gustave", "iven3", "john",
    "klatt3", "klatt4", "klatt6", "marcelo", "max", "michel", "miguel", "norbert", "quincy", "robert",
    "sandro", "travis", "victor", "Alex", "Nguyen",
)
ELDERLY_VARIANTS = {"female": "grandma", "male": "grandpa"}

#: The adult bands of :data:`asr.corpus.common.AGE_BANDS` (no child voices).
AGE_BANDS = tuple(band for band in COMMON_AGE_BANDS if band != "0-19")
GENDERS = ("female", "male")

#: Speaking rate in words per minute (eSpeak's default is 175) by age band.
RATE_BY_AGE = {"20-29": (165, 195), "30-39": (158, 188), "40-49": (150, 180), "50-59": (142, 172), "60+": (130, 160)}
#: eSpeak pitch range (0-100, default 50) by age band: older voices are flatter.
RANGE_BY_AGE = {"20-29": (40, 80), "30-39": (35, 75), "40-49": (32, 72), "50-59": (30, 65), "60+": (25, 55)}

#: Speaker-id prefix per dialect group.
ID_PREFIX = {"mandarin": "MAN", "southwestern": "SWM", "wu": "WUU", "cantonese": "YUE"}


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker. ``pitch`` and ``pitch_range`` are eSpeak's 0-100 scales."""

    id: str
    dialect: str
    split: str
    gender: str
    age_band: str
    city: str
    variant: str
    rate: int
    pitch: int
    pitch_range: int
    word_gap: int

    @property
    def voice(self) -> VoiceSettings:
        """The eSpeak settings of this speaker."""
        return VoiceSettings(
            voice=f"{get_dialect(self.dialect).voice}+{self.variant}",
            rate=self.rate,
            pitch=self.pitch,
            pitch_range=self.pitch_range,
            word_gap=self.word_gap,
        )

    def to_json(self) -> dict:
        return asdict(self) | {"voice": self.voice.voice}


def make_speakers(dialect: str, counts: dict[str, int], rng: np.random.Generator) -> list[Speaker]:
    """The speakers of one dialect group, ``counts[split]`` for each split (train, dev, test).

    Within each split genders alternate and age bands cycle (in a shuffled order), so
    every split of a group is as balanced as its size allows; ids number the group's
    speakers across splits (``SWM001``...). ``counts["added_train"]`` more training speakers
    come last, after the test speakers, so that they change none of the others.
    """
    group = get_dialect(dialect)
    prefix = ID_PREFIX.get(dialect, dialect[:3].upper())
    speakers: list[Speaker] = []
    used: dict[str, list[str]] = {g: [] for g in GENDERS}
    batches = [(split, counts.get(split, 0)) for split in ("train", "dev", "test")]
    if counts.get("added_train", 0):
        batches.append(("train", counts["added_train"]))
    for split, n in batches:
        first = int(rng.integers(2))
        genders = [GENDERS[(first + i) % 2] for i in range(n)]
        ages = [AGE_BANDS[i % len(AGE_BANDS)] for i in range(n)]
        rng.shuffle(ages)
        for gender, age in zip(genders, ages):
            variant = _pick_variant(gender, age, used[gender], rng)
            used[gender].append(variant)
            speaker_id = f"{prefix}{len(speakers) + 1:03d}"
            speakers.append(_speaker(speaker_id, dialect, split, gender, age, variant, group.cities, rng))
    return speakers


def _pick_variant(gender: str, age: str, used: list[str], rng: np.random.Generator) -> str:
    if age == "60+" and rng.random() < 0.5:
        return ELDERLY_VARIANTS[gender]
    pool = FEMALE_VARIANTS if gender == "female" else MALE_VARIANTS
    fresh = [v for v in pool if v not in used]
    choices = fresh or list(pool)
    return choices[int(rng.integers(len(choices)))]


def _speaker(
    speaker_id: str, dialect: str, split: str, gender: str, age: str, variant: str,
    cities: tuple[str, ...], rng: np.random.Generator,
) -> Speaker:
    pitch_lo, pitch_hi = (35, 70) if gender == "female" else (30, 65)
    if age == "60+":
        pitch_lo, pitch_hi = pitch_lo - 10, pitch_hi - 10
    return Speaker(
        id=speaker_id,
        dialect=dialect,
        split=split,
        gender=gender,
        age_band=age,
        city=cities[int(rng.integers(len(cities)))],
        variant=variant,
        rate=int(rng.integers(*RATE_BY_AGE[age], endpoint=True)),
        pitch=int(rng.integers(pitch_lo, pitch_hi, endpoint=True)),
        pitch_range=int(rng.integers(*RANGE_BY_AGE[age], endpoint=True)),
        word_gap=int(rng.random() < 0.25),
    )
