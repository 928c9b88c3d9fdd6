"""``asr audit``: a bad results file and bad options are one error naming what is wrong; no report is written."""

from __future__ import annotations

import json

import pytest

from tests.commands.harness import check_error, listing
from tests.commands.inputs import results_file


#: Bad results file (line 2 of 12 broken, or all of it) -> (a function of the rows, the error line's tail).
BAD_RESULTS = {
    "bad_json": (lambda lines: lines[:1] + ['{"id": "u1", '] + lines[2:], ":2: malformed results line"),
    "not_object": (lambda lines: lines[:1] + ["[1, 2]"] + lines[2:], ":2: expected a JSON object, got list"),
    "sub_not_a_number": (lambda lines: lines[:1] + [lines[1].replace('"sub": 0', '"sub": "zero"')] + lines[2:],
                         ": field 'sub' must be a number, got 'zero'"),
    "no_counts_no_texts": (lambda lines: lines[:1] + [json.dumps({"id": "u1", "speaker": "s1", "dialect": "wu"})]
                           + lines[2:], ": utterance u1: ref and hyp must be strings to score"),
    "no_speaker": (lambda lines: [json.dumps({k: v for k, v in json.loads(line).items() if k != "speaker"})
                                  for line in lines],
                   ": results rows have no 'speaker' field (as asr score --per-utt writes them); join the hypotheses "
                   "with the manifest: asr score --manifest M --hyp H --output results-x.jsonl, or asr audit "
                   "--manifest M --hyp H"),
    "duplicate_id": (lambda lines: lines + lines[:1], ": duplicate utterance id 'u0'"),
    "empty": (lambda lines: [], ": results file has no utterances"),
}


@pytest.mark.parametrize("kind", BAD_RESULTS)
def test_audit_names_the_results_file_and_what_is_wrong(kind, asr, tmp_path):
    results = results_file(tmp_path / "decode")
    edit, tail = BAD_RESULTS[kind]
    lines = edit(results.read_text(encoding="utf-8").splitlines())
    results.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    r = asr("audit", "--results", results, "--output-dir", tmp_path / "out", "--release", "r1",
            "--replicates", 10, "--permutations", 10)
    check_error(r, "audit", f"{results}{tail}")
    assert listing(tmp_path / "out") == set()


@pytest.mark.parametrize("argv,fragment", [
    (["--by", "dialekt"], "no field 'dialekt' to group by"),
    (["--by", "accent"], "no utterance has accent"),
    (["--fail-if", "worst_group_cer >> 0.1"], "worst_group_cer >> 0.1"),
    (["--results", "missing.jsonl"], "missing.jsonl: results file not found (expected asr decode's results-*.jsonl)"),
    (["--compare", "other.jsonl"], "other.jsonl: --compare not found (expected a report directory or a results file)"),
    (["--paired-by", "speaker"], "paired_by and contrast go together"),
    (["--paired-by", "speaker", "--contrast", "reading_style"], "contrast 'reading_style' is not a field of the results"),
    (["--hyp", "hyp.txt"], "--manifest and --hyp go together"),
])
def test_audit_bad_options_are_one_error(argv, fragment, asr, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    results = results_file(tmp_path / "decode")
    base = ["audit", "--results", results, "--output-dir", "out", "--release", "r1", "--replicates", 10,
            "--permutations", 10]
    r = asr(*base[:1], *(argv if argv[0] == "--results" else base[1:3]), *base[3:],
            *([] if argv[0] == "--results" else argv))
    check_error(r, "audit", fragment)
    assert listing(tmp_path / "out") == set()
