// Translates regionlm::Error's hierarchy to the Python classes of regionlm/errors.py (defined
// in Python, so that type checkers and the stubs see them as ordinary classes).
#include <nanobind/nanobind.h>

#include <exception>

#include "bindings.hpp"
#include "regionlm/error.hpp"

namespace regionlm::python {
namespace {

struct PythonErrors {
  PyObject* error = nullptr;
  PyObject* io = nullptr;
  PyObject* format = nullptr;
  PyObject* config = nullptr;
  PyObject* weight = nullptr;
  PyObject* shape = nullptr;
  PyObject* argument = nullptr;
};
PythonErrors errors;  // regionlm.errors' classes, set once at import

}  // namespace

void register_errors(nb::module_& m) {
  // Held for the life of the process: the translator runs until the interpreter ends.
  const nb::module_ classes = nb::module_::import_("regionlm.errors");
  const auto get = [&](const char* name) { return nb::object(classes.attr(name)).release().ptr(); };
  errors.error = get("Error");
  errors.io = get("IoError");
  errors.format = get("FormatError");
  errors.config = get("ConfigError");
  errors.weight = get("WeightError");
  errors.shape = get("ShapeError");
  errors.argument = get("ArgumentError");

  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    // Most derived first; anything else falls through to nanobind's own translation.
    try {
      std::rethrow_exception(p);
    } catch (const IoError& e) {
      PyErr_SetString(errors.io, e.what());
    } catch (const FormatError& e) {
      PyErr_SetString(errors.format, e.what());
    } catch (const ConfigError& e) {
      PyErr_SetString(errors.config, e.what());
    } catch (const WeightError& e) {
      PyErr_SetString(errors.weight, e.what());
    } catch (const ShapeError& e) {
      PyErr_SetString(errors.shape, e.what());
    } catch (const ArgumentError& e) {
      PyErr_SetString(errors.argument, e.what());
    } catch (const Error& e) {
      PyErr_SetString(errors.error, e.what());
    }
  });

  // Throws each class from C++, so that the tests can check the mapping of every one.
  m.def(
      "_raise_error",
      [](const std::string& kind, const std::string& message) {
        if (kind == "Error") throw Error(message);
        if (kind == "IoError") throw IoError(message);
        if (kind == "FormatError") throw FormatError(message);
        if (kind == "ConfigError") throw ConfigError(message);
        if (kind == "WeightError") throw WeightError(message);
        if (kind == "ShapeError") throw ShapeError(message);
        if (kind == "ArgumentError") throw ArgumentError(message);
        throw ArgumentError("kind: unknown regionlm error class '" + kind + "'");
      },
      nb::arg("kind"), nb::arg("message"), "Raises regionlm::<kind>(message) from C++ (for tests).");
}

}  // namespace regionlm::python
