"""Packages of the distribution; everything else is in pyproject.toml.

The repository keeps the Hydra config tree at the top level (conf/); it ships inside the package as
`transformer_lab/conf` (its YAML files as package data, found by transformer_lab.config.directory), so a wheel or
a plain `pip install .` runs without a checkout. pyproject.toml cannot list found packages and mapped ones
together, hence this file.
"""

from setuptools import find_namespace_packages, setup

# conf/ and its groups; conf/local/ (untracked machine-specific settings) stays on the machine.
CONF_PACKAGES = ["transformer_lab.conf"] + [
    f"transformer_lab.conf.{group}" for group in find_namespace_packages("conf", exclude=["local", "local.*"])
]

setup(
    # namespace packages: src/hydra_plugins (Hydra finds sweeper plugins there)
    packages=find_namespace_packages("src") + CONF_PACKAGES,
    package_dir={"": "src", "transformer_lab.conf": "conf"},
    package_data={package: ["*.yaml"] for package in CONF_PACKAGES},
)
