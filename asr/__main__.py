from asr.cli import entry_point

entry_point()
