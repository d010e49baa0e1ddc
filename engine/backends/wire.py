"""What crosses the socket between `ProcessBackend` and its engine process: pickles, and errors as data.

These are work orders and outcomes between two processes of this project, never model weights (those load from
safetensors only); each side unpickles through an `Unpickler` that names what it accepts.

Both ends are this project's code on one machine, over a private socket pair. The bot's side still unpickles
without importing anything heavy: a class from torch & co., or from an engine module the bot has not imported
itself (`engine.diffusion.device` imports torch), is refused, and an error then travels as its type name and message.
"""

from __future__ import annotations

import io
import pickle
import sys
import traceback
from typing import Any

from engine.errors import Cancelled, EngineError

# (pickled exception or None, type name, message, is an EngineError, traceback text)
ErrorPayload = tuple[bytes | None, str, str, bool, str]

# Libraries the bot's process must never load because an engine answer named one of their classes.
_HEAVY = frozenset({"torch", "torchvision", "torchao", "diffusers", "transformers", "peft", "accelerate"})
_HEAVY |= {"safetensors", "bitsandbytes", "huggingface_hub", "tokenizers", "xformers", "triton"}


class EngineProcessError(RuntimeError):
    """An error raised in the engine's process whose class the bot's process does not load: its type and text."""


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module not in sys.modules:
            top = module.partition(".")[0]
            # An engine module the core has not imported may import torch (engine.diffusion.device does).
            if top in _HEAVY or top == "engine":
                raise pickle.UnpicklingError(f"{module}.{name} is not loaded in the bot's process")
        return super().find_class(module, name)


def loads(data: bytes) -> Any:
    """Unpickle what the engine's process sent, refusing classes that would load torch & co. here."""
    return _Unpickler(io.BytesIO(data)).load()


def rebuilt_error(payload: ErrorPayload, pid: int | None) -> BaseException:
    """The child's exception as itself when it can be, else as its type name and message."""
    blob, type_name, message, engine_error, trace = payload
    error: BaseException | None = None
    if blob is not None:
        try:
            error = loads(blob)
        except Exception:  # refused or broken: fall back to the words
            error = None
    if not isinstance(error, BaseException):
        # An EngineError's message is safe to show a user as it is; anything else is an internal error.
        error = EngineError(message) if engine_error else EngineProcessError(f"{type_name}: {message}")
    if trace and not isinstance(error, Cancelled):
        error.add_note(f"raised in the engine process (pid {pid}):\n{trace.rstrip()}")
    return error


# What the engine's process takes from its parent: the engine's own types (and the tests' doubles of its runner),
# and the standard library's plain data. Nothing else may be named, so not even a forged pickle can call `eval`.
_PARENT_PACKAGES = frozenset({"engine", "tests"})
_PARENT_STDLIB = {
    "builtins": frozenset({"set", "frozenset", "bytearray", "complex", "slice", "range"}),
    "pathlib": frozenset({"Path", "PosixPath", "PurePath", "PurePosixPath"}),
    "functools": frozenset({"partial"}),
    "collections": frozenset({"OrderedDict", "deque", "defaultdict"}),
    "datetime": frozenset({"datetime", "date", "time", "timedelta", "timezone"}),
    "copyreg": frozenset({"_reconstructor"}),
}


class _ParentUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module.partition(".")[0] in _PARENT_PACKAGES or name in _PARENT_STDLIB.get(module, ()):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} may not cross into the engine's process")


def load_trusted(data: bytes) -> Any:
    """Unpickle what the parent sent (in the engine's process), naming only the classes listed above."""
    return _ParentUnpickler(io.BytesIO(data)).load()


def dump_error(exc: BaseException) -> ErrorPayload:
    """An exception as it travels: pickled when it can be, with its type, message and traceback as words too."""
    blob: bytes | None = None
    try:
        blob = pickle.dumps(exc)
        loads(blob)  # some exceptions pickle but cannot be rebuilt (their __init__ wants other arguments)
    except Exception:
        blob = None
    message = exc.message if isinstance(exc, EngineError) else str(exc)
    trace = "".join(traceback.format_exception(exc)) if exc.__traceback__ is not None else ""
    return blob, type(exc).__name__, message, isinstance(exc, EngineError), trace
