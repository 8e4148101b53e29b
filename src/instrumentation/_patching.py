"""Patch tables, applied lazily and removed exactly.

Each client module declares rows ``Patch(module, "Class.method", wrapper)``. ``apply`` patches the rows
of modules already imported and registers a wrapt post-import hook for the others, so ``instrument()``
never imports a client library itself and works before or after the application's imports.
``remove`` puts back exactly what was there: the same function object, in the same class ``__dict__``
(or none, when the attribute was inherited). A row whose target is missing (a client version whose
internals moved) is skipped with one warning; the other rows still apply.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Dict, List, NamedTuple, Set, Tuple

import wrapt

from instrumentation._guard import logger

_MISSING = object()


class Patch(NamedTuple):
    module: str
    path: str  # "Class.method" or "function"
    wrapper: Callable[..., Any]  # wrapt signature: (wrapped, instance, args, kwargs)
    #: A target only newer versions of the library have: skipped without a warning when missing.
    optional: bool = False


class _Applied(NamedTuple):
    owner: Any
    attribute: str
    original: Any  # the owner's own __dict__ entry, or _MISSING when inherited
    wrapped: Any


class Patcher:
    def __init__(self) -> None:
        self._wanted: Dict[str, List[Patch]] = {}
        self._applied: Dict[Tuple[str, str], _Applied] = {}
        self._hooked: Set[str] = set()

    def apply(self, patches: Tuple[Patch, ...]) -> None:
        for patch in patches:
            rows = self._wanted.setdefault(patch.module, [])
            if patch not in rows:
                rows.append(patch)
        for module_name in {patch.module for patch in patches}:
            module = sys.modules.get(module_name)
            if module is not None:
                self._patch_module(module)
            elif module_name not in self._hooked:
                self._hooked.add(module_name)
                wrapt.register_post_import_hook(self._patch_module, module_name)

    def remove(self, patches: Tuple[Patch, ...]) -> None:
        for patch in reversed(patches):
            rows = self._wanted.get(patch.module)
            if rows and patch in rows:
                rows.remove(patch)
            applied = self._applied.pop((patch.module, patch.path), None)
            if applied is None:
                continue
            current = getattr(applied.owner, "__dict__", {}).get(applied.attribute, _MISSING)
            if current is not applied.wrapped:
                logger.warning(
                    "%s.%s was re-patched by someone else after us; leaving it in place",
                    patch.module,
                    patch.path,
                )
                continue
            if applied.original is _MISSING:
                delattr(applied.owner, applied.attribute)
            else:
                setattr(applied.owner, applied.attribute, applied.original)

    def _patch_module(self, module: Any) -> None:
        for patch in list(self._wanted.get(module.__name__, ())):
            if (patch.module, patch.path) in self._applied:
                continue
            try:
                self._patch(module, patch)
            except Exception as exc:
                if patch.optional and isinstance(exc, AttributeError):
                    logger.debug("%s.%s not in this version: %s", patch.module, patch.path, exc)
                    continue
                logger.warning(
                    "cannot instrument %s.%s (%s); the rest of the instrumentation still works",
                    patch.module,
                    patch.path,
                    exc,
                )

    def _patch(self, module: Any, patch: Patch) -> None:
        *parents, attribute = patch.path.split(".")
        owner = module
        for name in parents:
            owner = getattr(owner, name)
        own = getattr(owner, "__dict__", {})
        original = own.get(attribute, _MISSING)
        target = original if original is not _MISSING else getattr(owner, attribute)
        if getattr(target, "_self_instrumentation", False) is True:
            # Already our wrapper: a re-export (``from ._async.helpers import async_bulk``) imported
            # after the defining module was patched. Wrap once; on removal put the function back.
            self._applied[(patch.module, patch.path)] = _Applied(
                owner, attribute, target.__wrapped__, target
            )
            return
        wrapped = wrapt.FunctionWrapper(target, patch.wrapper)
        wrapped._self_instrumentation = True  # type: ignore[attr-defined]
        setattr(owner, attribute, wrapped)
        self._applied[(patch.module, patch.path)] = _Applied(owner, attribute, original, wrapped)
