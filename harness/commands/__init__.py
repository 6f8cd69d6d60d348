"""Commands: the command line's arguments and the cells they select, and the commands with
their own module (``gpu-check``, ``hpo``); ``harness.cli`` dispatches to them."""
