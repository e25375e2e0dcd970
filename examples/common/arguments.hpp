#pragma once
// A small command-line parser for the example programs: long options (`--name value` or
// `--name=value`), flags, repeatable options kept in command-line order, and a usage text.
#include <cstdint>
#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace regionlm::examples {

/// A command line the parser rejects (unknown option, missing or malformed value).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ArgumentParser {
 public:
  ArgumentParser(std::string program, std::string summary);

  /// `--name VALUE`; `on_value` may throw UsageError for a malformed value.
  void option(const std::string& name, const std::string& metavar, const std::string& help,
              std::function<void(const std::string&)> on_value, bool required = false);
  /// Typed shorthands storing into `target` (validated: integers, numbers).
  void option(const std::string& name, const std::string& metavar, const std::string& help, std::string* target,
              bool required = false);
  void option(const std::string& name, const std::string& metavar, const std::string& help, int64_t* target);
  void option(const std::string& name, const std::string& metavar, const std::string& help, uint64_t* target);
  void option(const std::string& name, const std::string& metavar, const std::string& help, float* target);
  /// `--name` with no value.
  void flag(const std::string& name, const std::string& help, bool* target);

  /// Parses argv[1..]. Returns false when --help was given (usage printed to stdout).
  /// Throws UsageError for unknown options, missing values and missing required options.
  bool parse(int argc, char** argv);
  std::string usage() const;
  const std::string& program() const { return program_; }

 private:
  struct Spec {
    std::string name;
    std::string metavar;  // empty for flags
    std::string help;
    std::function<void(const std::string&)> on_value;
    bool required = false;
    bool seen = false;
  };
  Spec* find(const std::string& name);

  std::string program_;
  std::string summary_;
  std::vector<Spec> specs_;
};

/// Prints "<program>: error: <message>" to stderr and returns the exit code: 2 for usage
/// errors, 1 otherwise.
int report_error(const std::string& program, const std::exception& error);

/// Parses a whole string as a number; UsageError naming `what` otherwise.
int64_t parse_int(const std::string& text, const std::string& what);
double parse_number(const std::string& text, const std::string& what);

/// A number as help texts and messages show it, in its shortest form: 0.25, 0.002, 100.
std::string format_number(double value);

}  // namespace regionlm::examples
