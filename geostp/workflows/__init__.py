"""The jobs as Python functions over objects: forecast, evaluate, plot (the CLI only parses options for them).

This package sits on top: it imports forecast, evaluation and plots; nothing below imports it.
"""
