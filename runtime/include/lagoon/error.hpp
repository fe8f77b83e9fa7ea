// lagoon's exceptions: one base class, one subclass per kind of failure.
// Every message says what was asked, what was found, and on which rank.
#pragma once

#include <stdexcept>
#include <string>

namespace lagoon {

/// What went wrong, as a value that can cross ranks (see detail::agree).
enum class ErrorKind : int {
  generic = 1,
  mpi,
  out_of_memory,
  shape,
  type_mismatch,
  object_freed,
  deserialize,
  format,
  invalid_argument,
  runtime_finalized,
};

/// Base of every exception lagoon throws.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what, ErrorKind kind = ErrorKind::generic)
      : std::runtime_error(what), kind_(kind) {}
  [[nodiscard]] ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

/// An MPI call returned an error code.
class MpiError : public Error {
 public:
  MpiError(const std::string& what, int code = 0) : Error(what, ErrorKind::mpi), code_(code) {}
  /// The MPI error code (0 when the error was agreed on from another rank).
  [[nodiscard]] int code() const noexcept { return code_; }

 private:
  int code_;
};

/// Not enough memory on a node (shared memory, or an arena) for what was asked.
class OutOfMemory : public Error {
 public:
  explicit OutOfMemory(const std::string& what) : Error(what, ErrorKind::out_of_memory) {}
};

/// A shape with no dimensions, too many elements, or different on different ranks.
class ShapeError : public Error {
 public:
  explicit ShapeError(const std::string& what) : Error(what, ErrorKind::shape) {}
};

/// An object read back as another type than it was stored with.
class TypeMismatch : public Error {
 public:
  explicit TypeMismatch(const std::string& what) : Error(what, ErrorKind::type_mismatch) {}
};

/// An object used after it was freed.
class ObjectFreed : public Error {
 public:
  explicit ObjectFreed(const std::string& what) : Error(what, ErrorKind::object_freed) {}
};

/// A serialized archive that is corrupt or truncated.
class DeserializeError : public Error {
 public:
  explicit DeserializeError(const std::string& what) : Error(what, ErrorKind::deserialize) {}
};

/// A file (.npy) whose header or payload does not match what was asked.
class FormatError : public Error {
 public:
  explicit FormatError(const std::string& what) : Error(what, ErrorKind::format) {}
};

/// A bad argument or setting: a root rank out of range, ranks that disagree, a bad LAGOON_* value.
class InvalidArgument : public Error {
 public:
  explicit InvalidArgument(const std::string& what) : Error(what, ErrorKind::invalid_argument) {}
};

/// A lagoon object used after its Runtime was destroyed (MPI is finalized).
class RuntimeFinalized : public Error {
 public:
  explicit RuntimeFinalized(const std::string& what) : Error(what, ErrorKind::runtime_finalized) {}
};

namespace detail {
/// " (world rank R)" while MPI is running, "" otherwise: the suffix of every message.
[[nodiscard]] std::string on_rank();
/// Throws the subclass of Error that `kind` names, with `what` as its message.
[[noreturn]] void throw_error(ErrorKind kind, const std::string& what);
}  // namespace detail

}  // namespace lagoon
