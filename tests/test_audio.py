import numpy as np
import pytest

from asr.audio import audio_info, load_audio
from asr.errors import AsrError
from conftest import write_tone


@pytest.mark.parametrize("suffix", ["wav", "flac", "ogg", "mp3"])
def test_formats_load_as_16k_mono_float32(tmp_path, suffix):
    path = write_tone(tmp_path / f"a.{suffix}", seconds=1.0, rate=16000)
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(audio.size - 16000) < 1200  # mp3 adds encoder padding


def test_resamples_and_downmixes(tmp_path):
    path = write_tone(tmp_path / "a.wav", seconds=1.0, rate=8000, channels=2)
    assert audio_info(path) == (8000, 8000)
    audio = load_audio(path, sample_rate=16000)
    assert audio.shape == (16000,)
    assert load_audio(path, sample_rate=None).shape == (8000,)


def test_segment_selection(tmp_path):
    path = write_tone(tmp_path / "a.wav", seconds=2.0)
    assert load_audio(path, start=0.5, duration=1.0).shape == (16000,)


def test_bad_files_get_one_clear_line(tmp_path):
    with pytest.raises(AsrError, match=r"missing\.wav: no such audio file"):
        load_audio(tmp_path / "missing.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AsrError, match=r"empty\.wav: empty file \(expected audio\)"):
        load_audio(tmp_path / "empty.wav")
    (tmp_path / "notes.wav").write_text("this is text, not audio\n")
    with pytest.raises(AsrError, match=r"notes\.wav: not a readable audio file \(expected wav/flac/ogg/mp3\)"):
        load_audio(tmp_path / "notes.wav")
    good = write_tone(tmp_path / "cut.wav", seconds=1.0)
    (tmp_path / "corrupt.wav").write_bytes(good.read_bytes()[:30])
    with pytest.raises(AsrError, match=r"corrupt\.wav: "):
        load_audio(tmp_path / "corrupt.wav")


def test_rates_below_8k_are_unsupported(tmp_path):
    path = write_tone(tmp_path / "low.wav", seconds=0.5, rate=4000)
    with pytest.raises(AsrError, match=r"low\.wav: unsupported sample rate 4000 Hz \(expected at least 8000 Hz\)"):
        load_audio(path)


def test_nan_samples_are_an_error_naming_the_file_or_replaced_when_asked(tmp_path, caplog):
    import numpy as np
    import soundfile as sf

    from asr.audio import load_audio
    from asr.errors import AsrError

    audio = np.full(16000, 0.1, dtype=np.float32)
    audio[:100] = np.nan
    audio[200] = np.inf
    sf.write(str(tmp_path / "nan.wav"), audio, 16000, subtype="FLOAT")
    with pytest.raises(AsrError, match=r"nan.wav: 101 of 16000 samples are NaN or infinite \(expected finite audio"):
        load_audio(tmp_path / "nan.wav")
    fixed = load_audio(tmp_path / "nan.wav", nonfinite="zero")
    assert np.isfinite(fixed).all() and (fixed[:100] == 0).all() and fixed[300] == pytest.approx(0.1)
    assert "101 of 16000 samples were NaN or infinite; replaced with 0" in caplog.text
