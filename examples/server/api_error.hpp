#pragma once
// The one error type of the HTTP layer: an HTTP status and OpenAI's error object
// {"error": {"message", "type", "param", "code"}}. Everything a request can get wrong ends as
// one of these (library errors are mapped in http_server.cpp).
#include <stdexcept>
#include <string>

namespace regionlm::server {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string type, std::string param, std::string code, const std::string& message)
      : std::runtime_error(message),
        status_(status),
        type_(std::move(type)),
        param_(std::move(param)),
        code_(std::move(code)) {}

  int status() const { return status_; }
  const std::string& type() const { return type_; }    // "invalid_request_error", ...
  const std::string& param() const { return param_; }  // the field at fault ("" = none)
  const std::string& code() const { return code_; }    // machine-readable reason ("" = none)

 private:
  int status_;
  std::string type_;
  std::string param_;
  std::string code_;
};

/// 400: the request is not what the API accepts (JSON syntax, a missing field, a wrong type,
/// a number out of range, base64 that is not base64).
inline ApiError invalid_request(const std::string& param, const std::string& message,
                                const std::string& code = "invalid_value") {
  return ApiError(400, "invalid_request_error", param, code, message);
}

/// 422: well-formed, but its content cannot be used (an image that does not decode, a region
/// outside the image, RLE whose runs do not cover it, placeholders naming missing regions).
inline ApiError unprocessable(const std::string& param, const std::string& message,
                              const std::string& code = "unprocessable_content") {
  return ApiError(422, "invalid_request_error", param, code, message);
}

}  // namespace regionlm::server
