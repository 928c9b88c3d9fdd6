import gzip
import json

import pytest

from asr.io import atomic_write, open_text, write_json, write_jsonl


def test_atomic_write_leaves_no_file_when_interrupted(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write("half")
            raise RuntimeError("interrupted")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_keeps_the_old_file_until_success(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(target) as f:
            f.write("new")
            raise KeyboardInterrupt
    assert target.read_text() == "old"
    with atomic_write(target) as f:
        f.write("new")
    assert target.read_text() == "new"


def test_gzip_output_is_reproducible_and_readable(tmp_path):
    a, b = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl.gz"
    write_jsonl(a, [{"id": "1", "text": "你好"}])
    write_jsonl(b, [{"id": "1", "text": "你好"}])
    assert a.read_bytes() == b.read_bytes()
    with open_text(a) as f:
        assert json.loads(f.readline()) == {"id": "1", "text": "你好"}
    assert gzip.decompress(a.read_bytes()).decode() == '{"id": "1", "text": "你好"}\n'


def test_write_json_is_sorted_utf8(tmp_path):
    path = tmp_path / "x.json"
    write_json(path, {"b": 1, "a": "汉"})
    assert path.read_text(encoding="utf-8") == '{\n  "a": "汉",\n  "b": 1\n}\n'


def test_atomic_write_gives_the_mode_of_a_plain_open(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        write_json(tmp_path / "shared.json", {"a": 1})
        os.umask(0o077)
        write_json(tmp_path / "private.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "shared.json").stat().st_mode) == 0o644  # readable by others
    assert stat.S_IMODE((tmp_path / "private.json").stat().st_mode) == 0o600
