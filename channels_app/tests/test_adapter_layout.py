"""The adapter layout holds: pure mappings apart from HTTP clients, and nothing here reads the ORM.

Checked on the source (every import statement, function-level ones included), so a new
module or a new kind is covered without being listed here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from channels_app.adapters import ADAPTER_MODULES
from channels_app.adapters.base import adapters
from channels_app.pull.base import pullers

APP = Path(__file__).resolve().parent.parent
ADAPTERS = APP / "adapters"
SANDBOX_API = APP / "sandbox_api"

# Modules that touch our database: no adapter and no client imports them.
ORM = ("django.db", "channels_app.models", "orderhub.models", "traceability.models")
# What a pure module must not reach: the network, the ERP database, pull and write-back.
IO = (
    "requests",
    "httpx",
    "urllib.request",
    "socket",
    "psycopg",
    "channels_app.http",
    "channels_app.pull",
    "channels_app.outbound",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module an import statement of ``path`` names (``from a import b``: a and a.b)."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path.parent)
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _reaches(imports: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(
        name
        for name in imports
        for prefix in prefixes
        if name == prefix or name.startswith(prefix + ".")
    )


def _adapter_files() -> list[Path]:
    return sorted(ADAPTERS.rglob("*.py"))


def _kind_packages() -> list[Path]:
    return sorted(path for path in ADAPTERS.iterdir() if (path / "__init__.py").exists())


@pytest.mark.parametrize("path", _adapter_files(), ids=lambda path: str(path.relative_to(APP)))
def test_no_adapter_or_client_module_imports_the_orm(path: Path) -> None:
    assert _reaches(_imports(path), ORM) == []


@pytest.mark.parametrize(
    "path",
    [path for path in _adapter_files() if path.name != "client.py"],
    ids=lambda path: str(path.relative_to(APP)),
)
def test_pure_adapter_modules_import_no_network_pull_or_write_back(path: Path) -> None:
    assert _reaches(_imports(path), IO) == []


def test_the_network_module_has_no_orm_either() -> None:
    assert _reaches(_imports(APP / "http.py"), ORM) == []
    assert _reaches(_imports(APP / "pull" / "base.py"), ORM) == []


def test_every_kind_is_a_package_with_a_mapping_and_no_loose_kind_modules() -> None:
    loose = sorted(path.name for path in ADAPTERS.glob("*.py"))
    assert loose == ["__init__.py", "base.py", "common.py"]
    kinds = _kind_packages()
    assert len(kinds) >= 10
    assert [kind.name for kind in kinds if not (kind / "mapping.py").exists()] == []


def test_adapter_modules_lists_exactly_the_mappings_and_clients_on_disk() -> None:
    on_disk = sorted(
        _module_name(path)
        for kind in _kind_packages()
        for path in (kind / "mapping.py", kind / "client.py")
        if path.exists()
    )
    assert sorted(ADAPTER_MODULES) == on_disk
    assert len(set(ADAPTER_MODULES)) == len(ADAPTER_MODULES)


def test_every_registered_adapter_lives_in_its_kinds_mapping() -> None:
    shipped = {kind.name for kind in _kind_packages()}
    modules = {key: entry.__module__ for key, entry in adapters.items() if key in shipped}
    assert modules == {key: f"channels_app.adapters.{key}.mapping" for key in shipped}


def test_every_puller_lives_in_its_kinds_client() -> None:
    modules = {key: getattr(entry, "__module__", "") for key, entry in pullers.items()}
    assert modules == {key: f"channels_app.adapters.{key}.client" for key in modules}
    assert sorted(modules) == ["amazon", "douyin", "kingdee_k3", "pinduoduo"]


def test_sandbox_core_imports_no_platform_and_platforms_not_the_server() -> None:
    platforms = ("amazon", "douyin", "pinduoduo", "shops", "erp")
    assert (
        _reaches(
            _imports(SANDBOX_API / "core.py"),
            tuple(f"channels_app.sandbox_api.{name}" for name in (*platforms, "server")),
        )
        == []
    )
    for name in platforms:
        imported = _imports(SANDBOX_API / f"{name}.py")
        assert _reaches(imported, ("channels_app.sandbox_api.server",)) == [], name
        assert "channels_app.sandbox_api" not in imported, name
