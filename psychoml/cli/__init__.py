"""The ``psychoml`` command line: a thin typer shell over the public API.

Errors raised on purpose (:class:`psychoml.errors.PsychomlError`) print as one
located line and exit 1; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys

from psychoml.cli.app import app

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``psychoml`` script; returns the exit code."""
    import click

    from psychoml.errors import PsychomlError

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if debug:
        args.remove("--debug")
    try:
        app(args=args, prog_name="psychoml", standalone_mode=False)
    except PsychomlError as exc:
        if debug:
            raise
        _err(f"error: {exc}")
        return 1
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except click.exceptions.Abort:
        _err("aborted")
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except Exception as exc:  # an unexpected failure still gets one line unless --debug
        if debug:
            raise
        _err(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)")
        return 2
    return 0


def _err(text: str) -> None:
    print(text, file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
