#pragma once
// Every error regionlm reports is a regionlm::Error. Subclasses let callers tell a broken
// file from a bad argument; the message always names the file, key or argument at fault
// and what was expected.
#include <stdexcept>
#include <string>

namespace regionlm {

/// Base of all regionlm exceptions.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A file could not be opened, read or written (missing path, permission, I/O failure).
class IoError : public Error {
 public:
  using Error::Error;
};

/// A file was read but its contents are malformed: corrupt/truncated weights, bad JSON,
/// undecodable image bytes, unknown dtype, inconsistent header.
class FormatError : public Error {
 public:
  using Error::Error;
};

/// A configuration value is missing, of the wrong type or unsupported
/// (e.g. an unknown `rope_scaling` type).
class ConfigError : public Error {
 public:
  using Error::Error;
};

/// A weight tensor is missing or has an unexpected shape / dtype for the module loading it.
class WeightError : public Error {
 public:
  using Error::Error;
};

/// A tensor passed to or produced inside an API has the wrong shape, dtype or device.
class ShapeError : public Error {
 public:
  using Error::Error;
};

/// A user-supplied argument is invalid (empty mask, box outside the image, prompt whose
/// placeholders do not match the regions, option out of range, ...).
class ArgumentError : public Error {
 public:
  using Error::Error;
};

}  // namespace regionlm
