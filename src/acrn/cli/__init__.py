"""The ``acrn`` command line: one module per subcommand, listed explicitly in ``main.py``."""
