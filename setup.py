"""Packaging glue: the service's import packages live in four top-level folders.

``indexer/latentspace/indexer``, ``server/latentspace/server``, ``cli/latentspace/cli`` and
``explorer/latentspace/explorer`` all belong to the ``latentspace`` namespace; setuptools' declarative
config cannot map several roots, so the mapping is computed here. Everything else is in pyproject.toml.
"""

from setuptools import find_namespace_packages, setup

ROOTS = ("indexer", "server", "cli", "explorer")

packages: list[str] = []
package_dir: dict[str, str] = {}
for root in ROOTS:
    for package in find_namespace_packages(root, include=["latentspace.*"]):
        packages.append(package)
        package_dir[package] = f"{root}/{package.replace('.', '/')}"

setup(packages=packages, package_dir=package_dir)
