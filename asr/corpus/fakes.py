"""Tiny fake copies of the real corpora, in their distributed layouts, for tests and demos.

>>> root = make_kespeech("/tmp/KeSpeech")                      # doctest: +SKIP
>>> bash recipes/kespeech/run.sh --corpus-dir /tmp/KeSpeech     # doctest: +SKIP

Each builder writes the files its importer reads (see :mod:`asr.corpus.kespeech`,
:mod:`asr.corpus.aishell`, :mod:`asr.corpus.commonvoice`) with the metadata the audit
groups on. The "speech" is a tone per character (a fixed frequency for each character,
plus a little noise): nothing a listener would call speech, but a deterministic
function of the transcript, so a model can learn it and outputs are byte-identical for
one seed. Sizes are counted in utterances; every clip is about a second long.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

#: Sentences of the fake corpora (a voice-assistant domain, as the embedded corpus).
SENTENCES = (
    "打开空调", "导航回家", "播放音乐", "关闭车窗", "今天天气怎么样", "明天会下雨吗",
    "调高音量", "我要去机场", "附近有加油站吗", "给妈妈打电话", "查一下航班", "帮我订酒店",
)
#: Seconds of tone per character.
CHAR_SECONDS = 0.08


def render(text: str, rate: int, seed: int) -> np.ndarray:
    """The fake "speech" of ``text``: ``(samples,)`` float32 in [-1, 1] at ``rate`` Hz."""
    rng = np.random.default_rng(seed)
    n = int(CHAR_SECONDS * rate)
    t = np.arange(n) / rate
    fade = np.minimum(1.0, np.minimum(np.arange(n), np.arange(n)[::-1]) / (0.01 * rate))
    pieces = [np.zeros(int(0.05 * rate))]
    for ch in text:
        freq = 150.0 + 25.0 * (ord(ch) % 120)
        pieces.append(0.3 * np.sin(2 * np.pi * freq * t) * fade)
    pieces.append(np.zeros(int(0.05 * rate)))
    wave = np.concatenate(pieces)
    return (wave + 0.005 * rng.standard_normal(wave.size)).astype(np.float32)


def _write_audio(path: Path, text: str, rate: int, seed: int) -> int:
    """Write the fake speech of ``text``; returns its length in samples."""
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    wave = render(text, rate, seed)
    sf.write(str(path), wave, rate)
    return wave.size


def _write_text(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


#: Cities of the fake KeSpeech and their subdialects (``Metadata/city2subdialect``); a sample
#: of the corpus's 34 cities, one or two per subdialect, ``Xi'an`` for its apostrophe.
KESPEECH_CITIES = (
    ("Beijing", "Beijing"), ("Chengdu", "Southwestern"), ("Zhengzhou", "Zhongyuan"), ("Harbin", "Northeastern"),
    ("Lanzhou", "Lan-Yin"), ("Hefei", "Jiang-Huai"), ("Jinan", "Ji-Lu"), ("Dalian", "Jiao-Liao"),
    ("Chongqing", "Southwestern"), ("Xi'an", "Zhongyuan"), ("Nanjing", "Jiang-Huai"), ("Qingdao", "Jiao-Liao"),
)
#: Recording environments of the fake's phase 2 (``Metadata/phase2.utt2env``).
KESPEECH_ENVIRONMENTS = ("quiet", "noisy")


def make_kespeech(root: str | Path, speakers: int = 6, utterances: int = 4, seed: int = 0) -> Path:
    """KeSpeech: ``Tasks/ASR/{train_phase1,train_phase2,dev_phase1,dev_phase2,test}``,
    ``Audio/<speaker>/phase<N>/<utterance>.wav`` and ``Metadata/``: ``spk2{gender,age,city}``,
    ``city2subdialect``, ``utt2spk``, ``phase<N>.{text,wav.scp}``, ``phase1.utt2subdialect``,
    ``phase1.utt2style`` and ``phase2.utt2env``.

    The paired design: ``speakers`` per part, each from one city of :data:`KESPEECH_CITIES`;
    train and dev speakers record both phases, test speakers are others. In phase 1 a
    speaker reads every other prompt in Mandarin (style ``Mandarin``, subdialect
    ``Mandarin``), the rest in their city's subdialect (style ``Dialect``); in phase 2
    they read the same prompts in Mandarin, in one of :data:`KESPEECH_ENVIRONMENTS`.
    Test utterances mix both phases (every third from phase 2). ``utterances`` per
    speaker and part.
    """
    root = Path(root)
    meta: dict[str, list[str]] = defaultdict(list)
    counter = iter(range(1, 1_000_000))
    for split, parts in (("train", ("train_phase1", "train_phase2")), ("dev", ("dev_phase1", "dev_phase2")),
                         ("test", ("test",))):
        people = []
        for _ in range(speakers):
            number = next(counter)
            spk, (city, _) = f"{1000000 + number}", KESPEECH_CITIES[(number - 1) % len(KESPEECH_CITIES)]
            meta["spk2gender"].append(f"{spk} {('Female', 'Male')[number % 2]}")
            meta["spk2age"].append(f"{spk} {18 + 7 * number % 50}")
            meta["spk2city"].append(f"{spk} {city}")
            people.append((number, spk))
        for part in parts:
            rows: dict[str, list[str]] = defaultdict(list)
            for number, spk in people:
                for u in range(utterances):
                    phase = int(part[-1]) if part.endswith(("phase1", "phase2")) else (2 if u % 3 == 2 else 1)
                    _kespeech_utterance(root, rows, meta, number, spk, phase, u, seed)
            for name, lines in rows.items():
                _write_text(root / "Tasks" / "ASR" / part / name, sorted(lines))
    meta["city2subdialect"] = [f"{city} {dialect}" for city, dialect in KESPEECH_CITIES]
    for name, lines in meta.items():
        _write_text(root / "Metadata" / name, sorted(lines))
    return root


def _kespeech_utterance(root: Path, rows: dict, meta: dict, number: int, spk: str, phase: int, u: int,
                        seed: int) -> None:
    """Write one utterance's audio and its lines in the part (``rows``) and ``Metadata/`` tables."""
    home = KESPEECH_CITIES[(number - 1) % len(KESPEECH_CITIES)][1]
    in_dialect = phase == 1 and u % 2 == 0
    subdialect = home if in_dialect else "Mandarin"
    utt = f"{spk}_{phase}{u:04d}"
    text = SENTENCES[(number * 5 + u) % len(SENTENCES)]
    wav = f"Audio/{spk}/phase{phase}/{utt}.wav"
    _write_audio(root / wav, text, 16000, seed + number * 100 + phase * 10 + u)
    for table, value in (("wav.scp", wav), ("text", text), ("utt2spk", spk), ("utt2subdialect", subdialect)):
        rows[table].append(f"{utt} {value}")
    meta["utt2spk"].append(f"{utt} {spk}")
    meta[f"phase{phase}.text"].append(f"{utt} {text}")
    meta[f"phase{phase}.wav.scp"].append(f"{utt} {wav}")
    if phase == 1:
        meta["phase1.utt2subdialect"].append(f"{utt} {subdialect}")
        meta["phase1.utt2style"].append(f"{utt} {'Dialect' if in_dialect else 'Mandarin'}")
    else:
        meta["phase2.utt2env"].append(f"{utt} {KESPEECH_ENVIRONMENTS[(number + u) % len(KESPEECH_ENVIRONMENTS)]}")


def make_aishell(root: str | Path, speakers: dict[str, int] | None = None, utterances: int = 4, seed: int = 0) -> Path:
    """AISHELL-1: ``data_aishell/wav/<split>/S<nnnn>/BAC009S<nnnn>W0<nnn>.wav``, the
    word-segmented ``data_aishell/transcript/aishell_transcript_v0.8.txt`` and
    ``resource_aishell/speaker.info`` (gender). ``speakers``: per split (default 4/2/2)."""
    root = Path(root)
    speakers = speakers or {"train": 4, "dev": 2, "test": 2}
    transcript, info = [], []
    number = 1
    for split, count in speakers.items():
        for _ in range(count):
            number += 1
            spk = f"S{number:04d}"
            info.append(f"{number:04d} {'FM'[number % 2]}")
            for u in range(utterances):
                utt = f"BAC009{spk}W0{121 + u}"
                text = SENTENCES[(number * 5 + u) % len(SENTENCES)]
                _write_audio(root / "data_aishell" / "wav" / split / spk / f"{utt}.wav", text, 16000,
                             seed + number * 100 + u)
                transcript.append(f"{utt} {' '.join(text[i:i + 2] for i in range(0, len(text), 2))}")
    _write_text(root / "data_aishell" / "transcript" / "aishell_transcript_v0.8.txt", sorted(transcript))
    _write_text(root / "resource_aishell" / "speaker.info", info)
    return root


#: Common Voice's TSV header (v17 and later).
CV_HEADER = ("client_id", "path", "sentence_id", "sentence", "sentence_domain", "up_votes", "down_votes",
             "age", "gender", "accents", "variant", "locale", "segment")
#: Accent answers per locale: a speaker may give several, joined by ``|``; empty is no answer.
CV_ACCENTS = {
    "zh-CN": ("出生地：51 四川省", "出生地：11 北京市|出生地：37 山东省", "出生地：44 广东省", ""),
    "zh-TW": ("出生地：台北市", "", "出生地：台北市|出生地：高雄市"),
    "zh-HK": ("", "香港口音"),
}
CV_AGES = ("twenties", "thirties", "fourties", "teens", "")
CV_GENDERS = ("male_masculine", "female_feminine", "", "do_not_wish_to_say")
#: Sentences with Common Voice's quoting quirks (an unbalanced ``"``, corner brackets), used for
#: each speaker's first utterance in turn; the TSVs are not quoted.
CV_QUIRKY = ('他说"打开空调', "「导航回家」", "播放音乐")


def make_commonvoice(root: str | Path, locales: tuple[str, ...] = ("zh-CN", "zh-HK"),
                     speakers: dict[str, int] | None = None, utterances: int = 3, seed: int = 0) -> Path:
    """Common Voice (v17 layout): ``<locale>/{train,dev,test,validated}.tsv``,
    ``<locale>/clip_durations.tsv`` and ``<locale>/clips/*.mp3`` (48 kHz), with age,
    gender and accents (:data:`CV_ACCENTS`, some multi-valued) filled in for most
    speakers and left empty for some, as in the real release, and unquoted sentences
    with stray quotes. ``speakers``: per split (default 4/2/2)."""
    root = Path(root)
    speakers = speakers or {"train": 4, "dev": 2, "test": 2}
    number = 0
    for locale in locales:
        validated, durations = [], []
        accents = CV_ACCENTS.get(locale, ("",))
        for split, count in speakers.items():
            rows = []
            for _ in range(count):
                number += 1
                client = f"{number:04d}" + "ab" * 30
                for u in range(utterances):
                    name = f"common_voice_{locale}_{number * 100 + u}.mp3"
                    text = CV_QUIRKY[number % len(CV_QUIRKY)] if u == 0 else SENTENCES[(number * 5 + u) % len(SENTENCES)]
                    samples = _write_audio(root / locale / "clips" / name, text, 48000, seed + number * 100 + u)
                    durations.append({"clip": name, "duration[ms]": str(round(1000 * samples / 48000))})
                    rows.append({
                        "client_id": client, "path": name, "sentence_id": f"s{number * 100 + u}", "sentence": text,
                        "up_votes": "2", "down_votes": "0", "age": CV_AGES[number % len(CV_AGES)],
                        "gender": CV_GENDERS[number % len(CV_GENDERS)], "accents": accents[number % len(accents)],
                        "variant": "", "locale": locale, "segment": "",
                    })
            _write_tsv(root / locale / f"{split}.tsv", rows)
            validated.extend(rows)
        _write_tsv(root / locale / "validated.tsv", validated)
        _write_tsv(root / locale / "clip_durations.tsv", durations, ("clip", "duration[ms]"))
    return root


def _write_tsv(path: Path, rows: list[dict[str, str]], header: tuple[str, ...] = CV_HEADER) -> None:
    _write_text(path, ["\t".join(header)] + ["\t".join(row.get(c, "") for c in header) for row in rows])
