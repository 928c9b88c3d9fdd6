"""Tests of asr.train.

A package, so that pytest (prepend import mode) imports this room's modules and conftest as
``train.<name>``: test files may share a basename with another room's, and a conftest here
does not replace the shared ``tests/conftest.py`` that other rooms import ``write_tone`` from.
"""
