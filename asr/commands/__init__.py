"""One module per ``asr`` subcommand; see :mod:`asr.cli` for the contract."""
