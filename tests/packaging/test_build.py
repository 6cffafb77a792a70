"""Packaging: the package list, the wheel, its install, and build-tool errors."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def declared_packages() -> set[str]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return set(tomllib.load(f)["tool"]["setuptools"]["packages"])


def test_every_package_declared() -> None:
    found = set()
    for folder, name in [("control", "pykube_control"), ("pykube_core", "pykube_core")]:
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *relative.parts]))
    assert found == declared_packages()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        check=True,
        cwd=out,
    )
    (built,) = out.glob("pykube-*.whl")
    return built


@pytest.mark.slow
def test_wheel_contents(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("pykube_core/_selector_native") and n.endswith(".so") for n in names)
    assert any(n.startswith("pykube_core/_quantity_native") and n.endswith(".so") for n in names)
    assert "pykube_core/py.typed" in names
    assert "pykube_control/store/sqlite.py" in names
    assert not any(n.startswith("control/") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "pykube = pykube_control.cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.mark.slow
def test_wheel_installs_and_runs(wheel: Path, tmp_path: Path) -> None:
    # The venv sees this interpreter's packages for the dependencies, but
    # pykube itself must come from the wheel installed into the venv.
    clean_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=True)
    # When this interpreter is itself a virtual environment (setup makes .venv
    # where Debian manages python3), system_site_packages reaches only the base
    # interpreter's packages, so this interpreter's own are added by a .pth
    # file. Paths listed there are searched after the venv's own packages and
    # their .pth files (such as an editable pykube) are not run.
    inner = next((env_dir / "lib").glob("python3*/site-packages"))
    outer = [path for path in site.getsitepackages() if Path(path).is_dir()]
    (inner / "outer-site-packages.pth").write_text("".join(f"{path}\n" for path in outer))
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, env=clean_env)

    where = subprocess.run(
        [python, "-c", "import pykube_core, pykube_control; print(pykube_core.__file__, pykube_control.__file__)"],
        check=True, capture_output=True, text=True, cwd=tmp_path, env=clean_env,
    ).stdout
    for path in where.split():
        assert path.startswith(str(env_dir))

    version = subprocess.run(
        [env_dir / "bin" / "pykube", "version"],
        check=True, capture_output=True, text=True, cwd=tmp_path, env=clean_env,
    ).stdout
    assert "pykube_core._selector_native: loaded" in version
    assert "pykube_core._quantity_native: loaded" in version


def copy_build_files(dest: Path) -> None:
    shutil.copy(ROOT / "setup.py", dest)
    shutil.copy(ROOT / "pyproject.toml", dest)


def test_missing_compiler_named(tmp_path: Path) -> None:
    copy_build_files(tmp_path)
    result = subprocess.run(
        [sys.executable, "setup.py", "build_ext"],
        cwd=tmp_path, capture_output=True, text=True,
        env=dict(os.environ, CXX="/nonexistent/c++"),
    )
    assert result.returncode != 0
    assert "C++ compiler '/nonexistent/c++' not found" in result.stderr
    assert "apt-get install build-essential" in result.stderr


def test_missing_python_headers_named(tmp_path: Path) -> None:
    copy_build_files(tmp_path)
    script = (
        "import sys, sysconfig, runpy\n"
        "paths = sysconfig.get_paths()\n"
        "sysconfig.get_paths = lambda *a, **k: dict(paths, include='/nonexistent/include')\n"
        "sys.argv = ['setup.py', 'build_ext']\n"
        "runpy.run_path('setup.py', run_name='__main__')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode != 0
    assert "Python.h not found in /nonexistent/include" in result.stderr
    assert "apt-get install python3-dev" in result.stderr
