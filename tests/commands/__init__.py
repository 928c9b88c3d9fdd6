"""Tests of asr.commands, through the CLI as a user runs it.

``test_<subcommand>.py`` holds one subcommand's behaviour and errors; a behaviour shared by
several subcommands has one file, parametrized over them: ``test_bad_manifests.py``,
``test_bad_configs.py``, ``test_bad_models.py`` (model directories and language models),
``test_interrupted_writes.py``. ``harness.py`` checks what the user sees, ``inputs.py`` builds
valid and bad inputs, ``conftest.py`` has the ``asr`` fixture.

A package, so that pytest (prepend import mode) imports this room's modules and conftest as
``commands.<name>``: test files may share a basename with another room's, and a conftest here
does not replace the shared ``tests/conftest.py`` that other rooms import ``write_tone`` from.
"""
