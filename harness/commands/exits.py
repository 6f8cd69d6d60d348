"""The command line's exit codes, shared by ``harness.cli`` and the commands it runs."""

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_REPORT_FAILED = 3  # measured and stored, but the report failed
