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
  transport,
  task,
};

namespace detail {
/// " (world rank R)" while MPI is running, "" otherwise: the suffix of every message.
[[nodiscard]] std::string on_rank();
/// Marks a message that is complete as it is: one that already names its rank (an
/// error raised on another rank, and carried here), so no suffix is appended.
struct Verbatim {};
/// Throws the subclass of Error that `kind` names, with `what` as its whole message.
[[noreturn]] void throw_error(ErrorKind kind, const std::string& what);
}  // namespace detail

/// Base of every exception lagoon throws. The message names the rank that raised it:
/// the constructor appends " (world rank R)" while MPI runs.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what, ErrorKind kind = ErrorKind::generic)
      : std::runtime_error(what + detail::on_rank()), kind_(kind) {}
  Error(detail::Verbatim, const std::string& what, ErrorKind kind) : std::runtime_error(what), kind_(kind) {}
  [[nodiscard]] ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

/// An MPI call returned an error code.
class MpiError : public Error {
 public:
  explicit MpiError(const std::string& what, int code = 0) : Error(what, ErrorKind::mpi), code_(code) {}
  MpiError(detail::Verbatim v, const std::string& what) : Error(v, what, ErrorKind::mpi), code_(0) {}
  /// The MPI error code (0 when the error was agreed on from another rank).
  [[nodiscard]] int code() const noexcept { return code_; }

 private:
  int code_;
};

/// Declares an Error subclass of one kind: a constructor that appends the rank, and
/// one for a message carried from another rank. (A template, not a macro: each
/// subclass stays a class of its own that users catch by name.)
template <ErrorKind K>
class ErrorOf : public Error {
 public:
  explicit ErrorOf(const std::string& what) : Error(what, K) {}
  ErrorOf(detail::Verbatim v, const std::string& what) : Error(v, what, K) {}
};

/// Not enough memory on a node (shared memory, or an arena) for what was asked.
class OutOfMemory : public ErrorOf<ErrorKind::out_of_memory> {
 public:
  using ErrorOf::ErrorOf;
};

/// A shape with no dimensions, too many elements, or different on different ranks.
class ShapeError : public ErrorOf<ErrorKind::shape> {
 public:
  using ErrorOf::ErrorOf;
};

/// An object read back as another type than it was stored with.
class TypeMismatch : public ErrorOf<ErrorKind::type_mismatch> {
 public:
  using ErrorOf::ErrorOf;
};

/// An object used after it was freed.
class ObjectFreed : public ErrorOf<ErrorKind::object_freed> {
 public:
  using ErrorOf::ErrorOf;
};

/// A serialized archive that is corrupt or truncated.
class DeserializeError : public ErrorOf<ErrorKind::deserialize> {
 public:
  using ErrorOf::ErrorOf;
};

/// A file (.npy) whose header or payload does not match what was asked.
class FormatError : public ErrorOf<ErrorKind::format> {
 public:
  using ErrorOf::ErrorOf;
};

/// A bad argument or setting: a root rank out of range, ranks that disagree, a bad
/// LAGOON_* value, an object used after it was moved from.
class InvalidArgument : public ErrorOf<ErrorKind::invalid_argument> {
 public:
  using ErrorOf::ErrorOf;
};

/// A lagoon object used after its Runtime was destroyed (MPI is finalized).
class RuntimeFinalized : public ErrorOf<ErrorKind::runtime_finalized> {
 public:
  using ErrorOf::ErrorOf;
};

/// A task that threw something other than a lagoon::Error: names the task, the rank
/// and node that ran it, and the original message.
class TaskError : public ErrorOf<ErrorKind::task> {
 public:
  using ErrorOf::ErrorOf;
};

/// A request to another node that its service could not take: no object of that id
/// there (destroyed?), a malformed message, one-way requests that failed.
class TransportError : public ErrorOf<ErrorKind::transport> {
 public:
  using ErrorOf::ErrorOf;
};

}  // namespace lagoon
