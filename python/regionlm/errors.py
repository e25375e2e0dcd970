"""regionlm::Error's hierarchy (include/regionlm/error.hpp) as Python exceptions; the module's
C++ side raises these. Each class also derives from the builtin a Python caller would catch for
that kind of problem (OSError for a file, ValueError for a bad value), so `except ValueError`
works as well as `except regionlm.Error`."""


class Error(RuntimeError):
    """Base of every regionlm error (regionlm::Error)."""


class IoError(Error, OSError):
    """A file could not be opened, read or written (regionlm::IoError)."""


class FormatError(Error, ValueError):
    """A file's contents are malformed: corrupt weights, bad JSON, undecodable image bytes (regionlm::FormatError)."""


class ConfigError(Error, ValueError):
    """A configuration value is missing, mistyped or unsupported (regionlm::ConfigError)."""


class WeightError(Error):
    """A weight tensor is missing or misshapen (regionlm::WeightError)."""


class ShapeError(Error, ValueError):
    """An array or tensor has the wrong shape, dtype or device (regionlm::ShapeError)."""


class ArgumentError(Error, ValueError):
    """An argument is invalid: a bad region, prompt, option or array (regionlm::ArgumentError)."""
