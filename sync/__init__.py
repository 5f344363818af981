"""The composition root: the command line, config loading, the runner and the worker."""
