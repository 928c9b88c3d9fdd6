"""Another recognizer's hypotheses, in every format, joined with a manifest and audited."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import jiwer
import pytest

from asr.cli import main
from asr.decode.external import read_hypotheses, score_hypotheses
from asr.errors import AsrError
from asr.manifest.records import Utterance, write_manifest

#: (id, dialect, speaker, reference, hypothesis): written independently of asr's readers below.
ROWS = [
    ("u1", "mandarin", "m1", "打开空调", "打开空调"),
    ("u2", "mandarin", "m1", "导航到机场", "导航到机场"),
    ("u3", "mandarin", "m2", "播放音乐", "播放音东"),
    ("u4", "wu", "w1", "打开车窗", "打开窗"),
    ("u5", "wu", "w1", "关闭空调", "关必空调了"),
    ("u6", "wu", "w2", "调高音量", "条高音亮"),
]


@pytest.fixture
def manifest(tmp_path) -> Path:
    utts = [Utterance(id=i, audio=f"audio/{i}.wav", duration=1.0, sample_rate=16000, text=ref, speaker=spk,
                      dialect=d, gender="female" if spk.endswith("1") else "male") for i, d, spk, ref, _ in ROWS]
    path = tmp_path / "test.jsonl"
    write_manifest(path, utts)
    return path


def expected_cer_by_dialect() -> dict[str, float]:
    """Per group: jiwer's character error rate over the group's pooled texts (an independent computation)."""
    groups: dict[str, tuple[list[str], list[str]]] = {}
    for _, dialect, _, ref, hyp in ROWS:
        refs, hyps = groups.setdefault(dialect, ([], []))
        refs.append(ref)
        hyps.append(hyp)
    out = {}
    for dialect, (refs, hyps) in groups.items():
        edits = sum(jiwer.process_characters(r, h).substitutions + jiwer.process_characters(r, h).deletions
                    + jiwer.process_characters(r, h).insertions for r, h in zip(refs, hyps))
        out[dialect] = edits / sum(len(r) for r in refs)
    return out


def write_format(directory: Path, fmt: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    if fmt == "kaldi":
        path = directory / "hyp.txt"
        path.write_text("".join(f"{i} {h}\n" for i, _, _, _, h in ROWS), encoding="utf-8")
    elif fmt == "trn":
        path = directory / "hyp.trn"
        path.write_text("".join(f"{h} ({i})\n" for i, _, _, _, h in ROWS), encoding="utf-8")
    elif fmt == "jsonl":  # as FunASR writes it
        path = directory / "funasr.jsonl"
        path.write_text("".join(json.dumps({"key": i, "text": h}, ensure_ascii=False) + "\n"
                                for i, _, _, _, h in ROWS), encoding="utf-8")
    elif fmt in ("csv", "tsv"):
        path = directory / f"hyp.{fmt}"
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, delimiter="," if fmt == "csv" else "\t")
            writer.writerow(["filename", "transcript"])
            writer.writerows((f"{i}.wav", h) for i, _, _, _, h in ROWS)
    else:  # a directory of Whisper JSON files, one per audio file
        path = directory / "whisper"
        path.mkdir()
        for i, _, _, _, h in ROWS:
            (path / f"{i}.json").write_text(json.dumps({"text": " " + h, "segments": [], "language": "zh"}),
                                            encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", ["kaldi", "trn", "jsonl", "csv", "tsv", "whisper-json"])
def test_every_format_is_audited_and_agrees_with_an_independent_computation(fmt, manifest, tmp_path):
    hyp = write_format(tmp_path / "hyps", fmt)
    results = tmp_path / "exp" / "results-test.jsonl"
    assert main(["score", "--manifest", str(manifest), "--hyp", str(hyp), "--output", str(results),
                 "--system", "other-asr"]) == 0
    meta = json.loads((results.parent / "results-test.meta.json").read_text())
    assert meta["hyp_format"] == fmt and meta["system"] == "other-asr" and meta["missing_hypotheses"] == 0
    assert meta["matched_by"] == ("audio" if fmt in ("csv", "tsv", "whisper-json") else "id")
    rows = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [r[0] for r in ROWS] and all(r["speaker"] for r in rows)
    assert main(["audit", "--results", str(results), "--release", "other", "--output-dir", str(tmp_path / "reports"),
                 "--by", "dialect", "--replicates", "100", "--permutations", "100"]) == 0
    fairness = json.loads((tmp_path / "reports" / "other" / "fairness.json").read_text())
    cer = {g["group"]: g["cer"] for g in fairness["attributes"]["dialect"]["groups"]}
    expected = expected_cer_by_dialect()
    assert cer == pytest.approx(expected) and expected["wu"] > expected["mandarin"] > 0


@pytest.mark.parametrize("hyp, twin", [
    ("打開空調。", "打开空调"),           # Traditional characters, punctuation
    ("導航到３號樓", "导航到三号楼"),      # full-width digits, Traditional
    ("调到28度！", "调到二十八度"),        # Arabic numerals
    ("1998年的歌", "一九九八年的歌"),      # a year, read digit by digit
    ("打 13812345678", "打一三八一二三四五六七八"),  # a phone number, digit by digit
    ("OK, Play Music", "ok play music"),  # case and punctuation
])
def test_written_forms_score_the_same_as_their_normalised_twins(hyp, twin, tmp_path):
    utts = [Utterance(id="a", audio="a.wav", duration=1.0, sample_rate=16000, text=twin, speaker="s")]
    write_manifest(tmp_path / "m.jsonl", utts)
    for name, text in (("raw", hyp), ("twin", twin)):
        (tmp_path / f"{name}.txt").write_text(f"a {text}\n", encoding="utf-8")
        score_hypotheses(tmp_path / "m.jsonl", tmp_path / f"{name}.txt", tmp_path / f"results-{name}.jsonl")
    raw, twin_row = (json.loads((tmp_path / f"results-{n}.jsonl").read_text()) for n in ("raw", "twin"))
    assert (raw["sub"], raw["del"], raw["ins"]) == (twin_row["sub"], twin_row["del"], twin_row["ins"]) == (0, 0, 0)


def test_a_normalisation_step_can_be_turned_off_and_is_recorded(tmp_path):
    utts = [Utterance(id="a", audio="a.wav", duration=1.0, sample_rate=16000, text="调到二十八度", speaker="s")]
    write_manifest(tmp_path / "m.jsonl", utts)
    (tmp_path / "h.txt").write_text("a 调到28度\n", encoding="utf-8")
    out = tmp_path / "results-m.jsonl"
    assert main(["score", "--manifest", str(tmp_path / "m.jsonl"), "--hyp", str(tmp_path / "h.txt"), "--output",
                 str(out), "--no-normalize", "numerals"]) == 0
    row = json.loads(out.read_text())
    assert (row["sub"], row["del"], row["ins"]) == (1, 2, 0)  # 二十八 (three tokens) against 28 (one)
    meta = json.loads((tmp_path / "results-m.meta.json").read_text())
    assert "Arabic numerals" not in meta["normalization"] and "Traditional to Simplified" in meta["normalization"]


def test_missing_hypotheses_are_counted_deletions(manifest, tmp_path, capsys):
    (tmp_path / "h.txt").write_text("".join(f"{i} {h}\n" for i, _, _, _, h in ROWS[:-2]), encoding="utf-8")
    out = tmp_path / "results-test.jsonl"
    assert main(["score", "--manifest", str(manifest), "--hyp", str(tmp_path / "h.txt"), "--output", str(out)]) == 0
    assert "warning: 2 utterance(s) had no hypothesis and were scored as deletions (e.g. u5)" in capsys.readouterr().err
    rows = {r["id"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert rows["u6"]["hyp"] == "" and rows["u6"]["del"] == rows["u6"]["ref_len"] == 4
    assert json.loads((tmp_path / "results-test.meta.json").read_text())["missing_hypotheses"] == 2


@pytest.mark.parametrize("content, message", [
    ("u1 打开空调\nghost 多余\n", r"1 hypothesis\(es\) match no utterance of .*test.jsonl \(by id\), e.g. 'ghost'"),
    ("u1 打开空调\nu1 打开\n", r"h.txt:2: duplicate utterance id 'u1'"),
    ("", r"h.txt: transcript file is empty"),
    (b"u1 \xff\xfe\n", r"h.txt: not UTF-8 text"),
])
def test_bad_hypothesis_files_are_one_clear_error(content, message, manifest, tmp_path):
    path = tmp_path / "h.txt"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    with pytest.raises(AsrError, match=message):
        score_hypotheses(manifest, path, tmp_path / "results-test.jsonl")
    assert not (tmp_path / "results-test.jsonl").exists()


def test_extra_hypotheses_can_be_left_out_with_a_counted_warning(manifest, tmp_path, caplog):
    (tmp_path / "h.txt").write_text("".join(f"{i} {h}\n" for i, _, _, _, h in ROWS) + "ghost 多余\n", encoding="utf-8")
    _, meta = score_hypotheses(manifest, tmp_path / "h.txt", tmp_path / "results-test.jsonl", extra="ignore")
    assert meta["extra_hypotheses"] == 1 and "1 hypothesis(es) match no utterance" in caplog.text


def test_a_manifest_given_as_ref_points_to_manifest(manifest, tmp_path, capsys):
    (tmp_path / "h.txt").write_text("u1 打开空调\n", encoding="utf-8")
    assert main(["score", "--ref", str(manifest), "--hyp", str(tmp_path / "h.txt")]) == 1
    assert f"{manifest}: a manifest, not a transcript file: score it with --manifest" in capsys.readouterr().err


def test_csv_columns_can_be_named(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("utt,asr_output,extra\nu1,你好,x\n", encoding="utf-8")
    assert read_hypotheses(path, id_column="utt", text_column="asr_output").texts == {"u1": "你好"}
    with pytest.raises(AsrError, match=r"no column 'nope' \(--text-column\); columns: utt, asr_output, extra"):
        read_hypotheses(path, id_column="utt", text_column="nope")


def test_scoring_in_several_processes_writes_the_same_results_and_errors(tmp_path, monkeypatch):
    from asr.decode import external

    utts = [Utterance(id=f"u{i:03d}", audio=f"a/u{i:03d}.wav", duration=1.0, sample_rate=16000, text="打开空调",
                      speaker=f"s{i % 7}", dialect="wu" if i % 2 else "mandarin", accents=["北京"] if i % 3 else None)
            for i in range(300)]
    write_manifest(tmp_path / "m.jsonl", utts)
    (tmp_path / "h.txt").write_text("".join(f"u{i:03d} {'打开空' if i % 4 else '打开空调'}\n" for i in range(300)),
                                    encoding="utf-8")
    monkeypatch.setattr(external, "PARALLEL_MIN", 50)
    outputs = {}
    for jobs in (1, 2):
        path, meta = score_hypotheses(tmp_path / "m.jsonl", tmp_path / "h.txt", tmp_path / f"results-{jobs}.jsonl", jobs=jobs)
        outputs[jobs] = (path.read_bytes(), meta["cer"])
    assert outputs[1] == outputs[2]
    rows = [json.loads(line) for line in outputs[2][0].decode("utf-8").splitlines()]
    assert [r["id"] for r in rows] == [u.id for u in utts] and rows[1]["accents"] == ["北京"]
    lines = (tmp_path / "m.jsonl").read_text(encoding="utf-8").splitlines()
    lines[249] = lines[249].replace('"duration": 1.0', '"duration": -1.0')
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for jobs in (1, 2):
        with pytest.raises(AsrError, match=r"m.jsonl:250: utterance u249: field 'duration' must be a finite"):
            score_hypotheses(tmp_path / "m.jsonl", tmp_path / "h.txt", tmp_path / "results-bad.jsonl", jobs=jobs)
    assert not (tmp_path / "results-bad.jsonl").exists()
