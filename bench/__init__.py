"""kandinsky-bench: measure, cost and compare Kandinsky text-to-image pipelines."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kandinsky-bench")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
