"""The exception hierarchy every command shares, and the exit code of each.

Library code raises these; `migrate.cli.main` is the one place that turns them
into the one-line `tfckpt: error: ...` message and an exit code.
"""

EXIT_OK = 0
EXIT_DIFFERENT = 1
EXIT_BAD_INPUT = 2


class TfckptError(Exception):
    """A problem with what the user asked for or gave us; never a bug of ours."""

    exit_code = EXIT_BAD_INPUT


class SourceNotFound(TfckptError):
    """The path does not exist, or holds no checkpoint of any known form."""


class CorruptCheckpoint(TfckptError):
    """The files exist but cannot be read as what they claim to be."""


class UnsupportedSource(TfckptError):
    """A readable artifact of a kind (or version) this command cannot handle."""


class MappingConflict(TfckptError):
    """A rename or mapping would lose or collide variables."""


class OutputExists(TfckptError):
    """The output path exists and `--force` was not given."""


class UnsafeOutput(TfckptError):
    """The output path is an input, lies inside one, or contains one."""


class VerificationFailed(TfckptError):
    """A result was checked against its source and does not match."""

    exit_code = EXIT_DIFFERENT
