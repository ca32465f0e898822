"""Build step of the Gantry artifacts client: generates the gRPC stubs.

The stubs come from the repository's `proto/` (Gantry's contracts), compiled
with grpcio-tools while the package builds, into the private package
`gantry_artifacts._proto` (git-ignored, never committed). Their imports are
rewritten from `gantry.…` to `gantry_artifacts._proto.gantry.…`, so
installing the client adds no top-level `gantry` package to anyone's
environment.

Where the protos are read from, first found: `$GANTRY_PROTO_ROOT`,
`./proto` (a source distribution carries a copy), `../../proto` (the
repository checkout). Only `gantry/**` is compiled: `google/rpc/
error_details.proto` is vendored there as googleapis publishes it, and the
client takes it from `googleapis-common-protos` instead, so an agent that
also uses Google's libraries does not get the same proto file registered
twice.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
PACKAGE = "gantry_artifacts"
GENERATED = "_proto"
OUT_DIR = HERE / "src" / PACKAGE / GENERATED


def proto_root() -> Path:
    candidates = [Path(os.environ["GANTRY_PROTO_ROOT"])] if os.environ.get("GANTRY_PROTO_ROOT") else []
    candidates += [HERE / "proto", HERE.parent.parent / "proto"]
    for candidate in candidates:
        if (candidate / "gantry" / "artifacts" / "v1" / "artifacts.proto").is_file():
            return candidate
    raise SystemExit(
        "gantry-artifacts: proto/gantry/artifacts/v1/artifacts.proto not found in "
        + ", ".join(str(candidate) for candidate in candidates)
        + " (build from the repository checkout, or set GANTRY_PROTO_ROOT)"
    )


def generate() -> list[str]:
    """Compiles every `gantry/**/*.proto` into OUT_DIR; returns the packages made."""
    import grpc_tools
    from grpc_tools import protoc

    root = proto_root()
    files = sorted(path.relative_to(root).as_posix() for path in (root / "gantry").rglob("*.proto"))
    # protoc's well-known types (google/protobuf/*.proto) ship with grpcio-tools.
    well_known = Path(grpc_tools.__file__).resolve().parent / "_proto"
    shutil.rmtree(OUT_DIR, ignore_errors=True)
    OUT_DIR.mkdir(parents=True)
    arguments = [
        "grpc_tools.protoc",
        f"-I{root}",
        f"-I{well_known}",
        f"--python_out={OUT_DIR}",
        f"--pyi_out={OUT_DIR}",
        f"--grpc_python_out={OUT_DIR}",
        *files,
    ]
    if protoc.main(arguments) != 0:
        raise SystemExit(f"gantry-artifacts: protoc failed on {root}")
    prefix = f"{PACKAGE}.{GENERATED}."
    imports = re.compile(r"^(from|import) gantry\.", re.MULTILINE)
    packages = [f"{PACKAGE}.{GENERATED}"]
    (OUT_DIR / "__init__.py").write_text('"""Generated from proto/ by setup.py: do not edit."""\n')
    for directory in sorted(path for path in OUT_DIR.rglob("*") if path.is_dir()):
        (directory / "__init__.py").touch()
        packages.append(prefix + ".".join(directory.relative_to(OUT_DIR).parts))
    for path in list(OUT_DIR.rglob("*.py")) + list(OUT_DIR.rglob("*.pyi")):
        text = path.read_text()
        rewritten = imports.sub(lambda match: f"{match.group(1)} {prefix}gantry.", text)
        if rewritten != text:
            path.write_text(rewritten)
    return packages


class BuildPyWithStubs(build_py):
    """Generates the stubs before the package's files are collected."""

    def run(self) -> None:
        generated = generate()
        for package in generated:
            if package not in self.packages:
                self.packages.append(package)
            if package not in (self.distribution.packages or []):
                self.distribution.packages = [*(self.distribution.packages or []), package]
        super().run()


class SdistWithProtos(sdist):
    """Carries the protos in a source distribution (built from there later)."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        root = proto_root()
        target = Path(base_dir) / "proto"
        if root.resolve() != target.resolve():
            shutil.copytree(root / "gantry", target / "gantry", dirs_exist_ok=True)


setup(
    packages=[PACKAGE],
    cmdclass={"build_py": BuildPyWithStubs, "sdist": SdistWithProtos},
)
