"""Errors a user can act on: the CLI prints their message instead of a stack trace."""


class PipelineError(ValueError):
    """A step cannot go on; the message names the input or run and what to do about it."""


class ContractViolation(PipelineError):
    """A batch broke its table's contract; the table it was headed for was not changed."""
