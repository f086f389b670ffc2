"""The command line, one module per command (``python -m sim COMMAND``); see :mod:`sim.__main__`."""
