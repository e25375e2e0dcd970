#include "common/arguments.hpp"

#include <cerrno>
#include <cstdlib>
#include <iostream>
#include <sstream>

namespace regionlm::examples {

ArgumentParser::ArgumentParser(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {}

void ArgumentParser::option(const std::string& name, const std::string& metavar, const std::string& help,
                            std::function<void(const std::string&)> on_value, bool required) {
  specs_.push_back({name, metavar, help, std::move(on_value), required});
}

void ArgumentParser::option(const std::string& name, const std::string& metavar, const std::string& help,
                            std::string* target, bool required) {
  option(name, metavar, help, [target](const std::string& v) { *target = v; }, required);
}

void ArgumentParser::option(const std::string& name, const std::string& metavar, const std::string& help,
                            int64_t* target) {
  option(name, metavar, help, [target, name](const std::string& v) { *target = parse_int(v, "--" + name); });
}

void ArgumentParser::option(const std::string& name, const std::string& metavar, const std::string& help,
                            uint64_t* target) {
  option(name, metavar, help, [target, name](const std::string& v) {
    const int64_t value = parse_int(v, "--" + name);
    if (value < 0) throw UsageError("--" + name + " must be >= 0, got " + v);
    *target = static_cast<uint64_t>(value);
  });
}

void ArgumentParser::option(const std::string& name, const std::string& metavar, const std::string& help,
                            float* target) {
  option(name, metavar, help,
         [target, name](const std::string& v) { *target = static_cast<float>(parse_number(v, "--" + name)); });
}

void ArgumentParser::flag(const std::string& name, const std::string& help, bool* target) {
  specs_.push_back({name, "", help, [target](const std::string&) { *target = true; }});
}

ArgumentParser::Spec* ArgumentParser::find(const std::string& name) {
  for (Spec& spec : specs_) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

bool ArgumentParser::parse(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << usage();
      return false;
    }
    if (arg.rfind("--", 0) != 0) throw UsageError("unexpected argument '" + arg + "'");
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    Spec* spec = find(name);
    if (!spec) throw UsageError("unknown option --" + name);
    spec->seen = true;
    if (spec->metavar.empty()) {
      if (eq != std::string::npos) throw UsageError("--" + name + " takes no value");
      spec->on_value("");
      continue;
    }
    std::string value;
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      throw UsageError("--" + name + " needs a value (" + spec->metavar + ")");
    }
    spec->on_value(value);
  }
  for (const Spec& spec : specs_) {
    if (spec.required && !spec.seen) throw UsageError("--" + spec.name + " is required");
  }
  return true;
}

std::string ArgumentParser::usage() const {
  std::ostringstream out;
  out << "usage: " << program_;
  for (const Spec& spec : specs_) {
    if (spec.required) out << " --" << spec.name << " " << spec.metavar;
  }
  out << " [options]\n\n" << summary_ << "\n\noptions:\n";
  for (const Spec& spec : specs_) {
    std::string left = "  --" + spec.name + (spec.metavar.empty() ? "" : " " + spec.metavar);
    if (left.size() < 28) left.resize(28, ' ');
    else left += "\n" + std::string(28, ' ');
    out << left << spec.help << "\n";
  }
  out << "  --help                    this text\n";
  return out.str();
}

int64_t parse_int(const std::string& text, const std::string& what) {
  errno = 0;
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE) throw UsageError(what + ": '" + text + "' is not an integer");
  return value;
}

double parse_number(const std::string& text, const std::string& what) {
  errno = 0;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno == ERANGE) throw UsageError(what + ": '" + text + "' is not a number");
  return value;
}

std::string format_number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

int report_error(const std::string& program, const std::exception& error) {
  std::cerr << program << ": error: " << error.what() << "\n";
  if (dynamic_cast<const UsageError*>(&error)) {
    std::cerr << "(run " << program << " --help for usage)\n";
    return 2;
  }
  return 1;
}

}  // namespace regionlm::examples
