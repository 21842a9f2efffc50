"""Write Warren actors in Python.

State values are JSON, as the Dapr state API shows them; calls and replies carry JSON.
Everything here runs inside a turn: state writes, casts, timers and reminders take effect
when the turn's action returns, and are dropped when it raises.
"""

import json
from typing import Any, Optional

from componentize_py_types import Err
from wit_world.imports import actors as _actors
from wit_world.imports import state as _state
from wit_world.imports import store as _config
from wit_world.imports import types as _types

__all__ = [
    "ActorType",
    "ActorError",
    "NotFound",
    "InvalidArgument",
    "Failed",
    "component",
    "context",
    "get",
    "put",
    "delete",
    "keys",
    "call",
    "cast",
    "remind",
    "forget",
    "set_timer",
    "cancel_timer",
]


class ActorError(Exception):
    """A failed turn; the subclass says how."""

    def to_wit(self) -> "_types.Error":
        return _types.Error_Failed(str(self))


class NotFound(ActorError):
    """No such action or thing."""

    def to_wit(self):
        return _types.Error_NotFound(str(self))


class InvalidArgument(ActorError):
    """The payload was not acceptable."""

    def to_wit(self):
        return _types.Error_InvalidArgument(str(self))


class Failed(ActorError):
    """The action ran and failed."""


# State.

def get(key: str, default: Any = None) -> Any:
    """The JSON value stored under `key`, or `default`."""
    raw = _state.get(key)
    if raw is None:
        return default
    try:
        return json.loads(raw)
    except ValueError as e:
        raise Failed(f"state key {key!r} is not JSON: {e}") from e


def put(key: str, value: Any) -> None:
    """Store `value` as JSON under `key` when the turn commits."""
    _state.set(key, json.dumps(value, separators=(",", ":")).encode())


def delete(key: str) -> None:
    """Remove `key` when the turn commits."""
    _state.delete(key)


def keys(prefix: str = "") -> list:
    """The keys starting with `prefix`, sorted."""
    return _state.keys(prefix)


# Other actors.

def config(key: str, default: Optional[str] = None) -> Optional[str]:
    """The configuration value under `key` (set with `warren config set`), or `default`."""
    try:
        value = _config.get(key)
    except Err as e:
        raise Failed(f"cannot read the configuration: {e.value.value}")
    return default if value is None else value


def _payload(value: Any) -> bytes:
    return b"" if value is None else json.dumps(value, separators=(",", ":")).encode()


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def _raise(err: Err) -> None:
    value = err.value
    kind = {
        _types.Error_NotFound: NotFound,
        _types.Error_InvalidArgument: InvalidArgument,
    }.get(type(value), Failed)
    raise kind(getattr(value, "value", str(value))) from None


def call(actor_type: str, id: str, action: str, payload: Any = None) -> Any:
    """Run `action` on another actor of this tenant and return its JSON reply."""
    target = _types.ActorRef(actor_type=actor_type, id=id)
    try:
        return _decode(_actors.call(target, action, _payload(payload)))
    except Err as e:
        _raise(e)


def cast(actor_type: str, id: str, action: str, payload: Any = None) -> None:
    """Send `action` to another actor once this turn commits, without waiting."""
    target = _types.ActorRef(actor_type=actor_type, id=id)
    try:
        _actors.cast(target, action, _payload(payload))
    except Err as e:
        _raise(e)


# Timers and reminders (Dapr's time formats: "5s", "PT1M", "R3/PT1S", RFC 3339).

def remind(name: str, due: str = "", period: str = "", ttl: str = "", data: Any = None) -> None:
    """Register (or replace) a durable reminder; it fires the action named `name` with
    `data` as payload."""
    try:
        _actors.set_reminder(name, due, period, ttl, _payload(data))
    except Err as e:
        _raise(e)


def forget(name: str) -> None:
    """Delete a reminder of this actor."""
    _actors.cancel_reminder(name)


def set_timer(name: str, due: str = "", period: str = "", ttl: str = "", data: Any = None) -> None:
    """Start (or replace) a timer of this activation; it fires the action named `name`."""
    try:
        _actors.set_timer(name, due, period, ttl, _payload(data))
    except Err as e:
        _raise(e)


def cancel_timer(name: str) -> None:
    """Stop a timer of this actor."""
    _actors.cancel_timer(name)


# The component.

_current: Optional["_types.Context"] = None


def context() -> "_types.Context":
    """The context of the turn running now: `target`, `caller`, `trigger`, `metadata`."""
    if _current is None:
        raise RuntimeError("no turn is running")
    return _current


class ActorType:
    """An actor type: subclass it and give it one public method per action.

    Class attributes set the type's settings: `name` (default: the class name in lower
    case), `idle_timeout_ms`, `reentrancy_depth`. The docstring is its description.
    """

    name: Optional[str] = None
    idle_timeout_ms: Optional[int] = None
    reentrancy_depth: Optional[int] = None

    @classmethod
    def type_name(cls) -> str:
        return cls.name or cls.__name__.lower()

    @classmethod
    def actions(cls) -> dict:
        """Action name -> method name."""
        found = {}
        for klass in reversed(cls.__mro__):
            if klass in (ActorType, object):
                continue
            for attr, value in vars(klass).items():
                if callable(value) and not attr.startswith("_"):
                    found[attr.replace("_", "-")] = attr
        return found

    @classmethod
    def info(cls) -> "_types.ActorTypeInfo":
        doc = (cls.__doc__ or "").strip() or None
        actions = [
            _types.ActionInfo(name=a, description=None, parameters=None, result=None)
            for a in sorted(cls.actions())
        ]
        return _types.ActorTypeInfo(
            name=cls.type_name(),
            kind=_types.ActorKind.NAMED,
            idle_timeout_ms=cls.idle_timeout_ms,
            reentrancy_depth=cls.reentrancy_depth,
            snapshot_interval_ms=None,
            activate_action=None,
            timer_actions=[],
            channels=[],
            actions=actions,
            description=doc,
        )


def component(name: str, version: str, *types: type) -> type:
    """The class componentize-py exports as `Actor`: assign it to `Actor` in the app
    module. `types` are the component's `ActorType` subclasses."""
    by_name = {t.type_name(): t for t in types}

    class Actor:
        def describe(self):
            return _types.Manifest(
                name=name, version=version, actor_types=[t.info() for t in types]
            )

        def handle_action(self, ctx, action: str, payload: bytes) -> bytes:
            global _current
            kind = by_name.get(ctx.target.actor_type)
            method = kind.actions().get(action) if kind else None
            if method is None:
                raise Err(_types.Error_NotFound(f"{ctx.target.actor_type} has no action {action!r}"))
            try:
                argument = json.loads(payload) if payload else None
            except ValueError as e:
                raise Err(_types.Error_InvalidArgument(f"payload is not JSON: {e}"))
            _current = ctx
            try:
                handler = getattr(kind(), method)
                result = handler() if argument is None and _takes_nothing(handler) else handler(argument)
            except ActorError as e:
                raise Err(e.to_wit())
            finally:
                _current = None
            return _payload(result)

    return Actor


def _takes_nothing(handler) -> bool:
    code = getattr(handler, "__code__", None)
    return code is not None and code.co_argcount <= 1
