"""Packages of the distribution; everything else is in pyproject.toml.

The repository keeps the Hydra config tree at the top level (conf/); it ships inside the package as
`transformer_lab/conf` (package data, found by transformer_lab.config_dir), so a wheel or a plain
`pip install .` runs without a checkout. pyproject.toml cannot list found packages and a mapped one together.
"""

from setuptools import find_namespace_packages, setup

setup(
    # namespace packages: src/hydra_plugins (Hydra finds sweeper plugins there)
    packages=find_namespace_packages("src") + ["transformer_lab.conf"],
    package_dir={"": "src", "transformer_lab.conf": "conf"},
)
