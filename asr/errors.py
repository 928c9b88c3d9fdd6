"""The one exception type users see.

Every error caused by user input (a missing file, a malformed manifest line, an
unknown config key) is raised as :class:`AsrError` with a message that names the
file or utterance and what was expected. The CLI prints it as one line and exits
non-zero; ``--debug`` shows the traceback.
"""


class AsrError(Exception):
    """A user-facing error: one line naming the culprit and what was expected."""
