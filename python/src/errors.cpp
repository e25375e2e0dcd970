// regionlm::Error's hierarchy as Python exceptions. Each class also derives from the builtin a
// Python caller would catch for that kind of problem (OSError for a file that cannot be read,
// ValueError for a bad value), so `except ValueError` works as well as `except regionlm.Error`.
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
PythonErrors errors;  // created once at import, owned by the module for its whole life

PyObject* make_error(nb::module_& m, const char* name, PyObject* bases, const char* doc) {
  const std::string qualified = std::string("regionlm.") + name;
  PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases, nullptr);
  Py_DECREF(bases);
  if (type == nullptr) throw nb::python_error();
  m.attr(name) = nb::handle(type);
  return type;
}

PyObject* bases(PyObject* first, PyObject* second = nullptr) {
  return second ? PyTuple_Pack(2, first, second) : PyTuple_Pack(1, first);
}

}  // namespace

void register_errors(nb::module_& m) {
  errors.error = make_error(m, "Error", bases(PyExc_RuntimeError), "Base of every regionlm error (regionlm::Error).");
  errors.io = make_error(m, "IoError", bases(errors.error, PyExc_OSError),
                         "A file could not be opened, read or written (regionlm::IoError).");
  errors.format = make_error(m, "FormatError", bases(errors.error, PyExc_ValueError),
                             "A file's contents are malformed (regionlm::FormatError).");
  errors.config = make_error(m, "ConfigError", bases(errors.error, PyExc_ValueError),
                             "A configuration value is missing, mistyped or unsupported (regionlm::ConfigError).");
  errors.weight = make_error(m, "WeightError", bases(errors.error),
                             "A weight is missing or misshapen (regionlm::WeightError).");
  errors.shape = make_error(m, "ShapeError", bases(errors.error, PyExc_ValueError),
                            "An array or tensor has the wrong shape, dtype or device (regionlm::ShapeError).");
  errors.argument = make_error(m, "ArgumentError", bases(errors.error, PyExc_ValueError),
                               "An argument is invalid (regionlm::ArgumentError).");

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
