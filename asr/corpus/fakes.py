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


def _write_audio(path: Path, text: str, rate: int, seed: int) -> None:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), render(text, rate, seed), rate)


def _write_text(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def make_kespeech(root: str | Path, speakers: int = 6, utterances: int = 4, seed: int = 0) -> Path:
    """KeSpeech: ``Tasks/ASR/{train_phase1,train_phase2,dev_phase1,dev_phase2,test}``,
    ``Audio/<speaker>/<phase>/*.wav`` and ``Metadata/spk2{gender,age,city}``.

    ``speakers`` per part (disjoint between parts), each with ``utterances`` per part and
    one subdialect; phase 1 parts are Mandarin, phase 2 parts and test the subdialects.
    """
    from asr.corpus.kespeech import SUBDIALECTS

    root = Path(root)
    cities = ("Chengdu", "Lanzhou", "Hefei", "Jinan", "Dalian", "Harbin", "Zhengzhou", "Beijing")
    genders, ages, city_of = [], [], []
    parts = ("train_phase1", "train_phase2", "dev_phase1", "dev_phase2", "test")
    number = 0
    for p, part in enumerate(parts):
        phase = "phase2" if part.endswith("phase2") else "phase1"
        rows = {"wav.scp": [], "text": [], "utt2spk": [], "utt2subdialect": []}
        for s in range(speakers):
            number += 1
            spk = f"{1000000 + number}"
            dialect = SUBDIALECTS[0] if part.endswith("phase1") else SUBDIALECTS[1 + (p + s) % (len(SUBDIALECTS) - 1)]
            genders.append(f"{spk} {('Female', 'Male')[s % 2]}")
            ages.append(f"{spk} {18 + 9 * s % 50}")
            city_of.append(f"{spk} {cities[(p + s) % len(cities)]}")
            for u in range(utterances):
                utt = f"{spk}_{part}_{u:03d}"
                text = SENTENCES[(p * 7 + s * 3 + u) % len(SENTENCES)]
                _write_audio(root / "Audio" / spk / phase / f"{utt}.wav", text, 16000, seed + number * 100 + u)
                rows["wav.scp"].append(f"{utt} Audio/{spk}/{phase}/{utt}.wav")
                rows["text"].append(f"{utt} {text}")
                rows["utt2spk"].append(f"{utt} {spk}")
                rows["utt2subdialect"].append(f"{utt} {dialect}")
        for name, lines in rows.items():
            _write_text(root / "Tasks" / "ASR" / part / name, lines)
    _write_text(root / "Metadata" / "spk2gender", genders)
    _write_text(root / "Metadata" / "spk2age", ages)
    _write_text(root / "Metadata" / "spk2city", city_of)
    return root


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
CV_ACCENTS = ("出生地：四川省", "出生地：北京市", "出生地：广东省", "")
CV_AGES = ("twenties", "thirties", "fourties", "teens", "")
CV_GENDERS = ("male_masculine", "female_feminine", "")


def make_commonvoice(root: str | Path, locales: tuple[str, ...] = ("zh-CN", "zh-HK"),
                     speakers: dict[str, int] | None = None, utterances: int = 3, seed: int = 0) -> Path:
    """Common Voice: ``<locale>/{train,dev,test,validated}.tsv`` and ``<locale>/clips/*.mp3``
    (48 kHz), with age, gender and accents filled in for most speakers and left empty for
    some, as in the real release. ``speakers``: per split (default 4/2/2)."""
    root = Path(root)
    speakers = speakers or {"train": 4, "dev": 2, "test": 2}
    number = 0
    for locale in locales:
        validated = []
        for split, count in speakers.items():
            rows = []
            for _ in range(count):
                number += 1
                client = f"{number:04d}" + "ab" * 30
                for u in range(utterances):
                    name = f"common_voice_{locale}_{number * 100 + u}.mp3"
                    text = SENTENCES[(number * 5 + u) % len(SENTENCES)]
                    _write_audio(root / locale / "clips" / name, text, 48000, seed + number * 100 + u)
                    rows.append({
                        "client_id": client, "path": name, "sentence_id": f"s{number * 100 + u}", "sentence": text,
                        "up_votes": "2", "down_votes": "0", "age": CV_AGES[number % len(CV_AGES)],
                        "gender": CV_GENDERS[number % len(CV_GENDERS)],
                        "accents": CV_ACCENTS[number % len(CV_ACCENTS)] if locale == "zh-CN" else "",
                        "variant": "", "locale": locale, "segment": "",
                    })
            _write_tsv(root / locale / f"{split}.tsv", rows)
            validated.extend(rows)
        _write_tsv(root / locale / "validated.tsv", validated)
    return root


def _write_tsv(path: Path, rows: list[dict[str, str]]) -> None:
    _write_text(path, ["\t".join(CV_HEADER)] + ["\t".join(row.get(c, "") for c in CV_HEADER) for row in rows])
