"""Packages: vjepa/ and the recipes of configs/, installed as vjepa/configs (package-dir
mapping), so a wheel install trains; configs/ stays at the top of the repository."""

from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent
CONFIGS = ROOT / "configs"
CONFIG_PACKAGES = ["vjepa.configs" + "".join(f".{part}" for part in d.relative_to(CONFIGS).parts)
                   for d in sorted([CONFIGS, *CONFIGS.rglob("*")]) if d.is_dir()]

setup(
    packages=find_packages(include=["vjepa", "vjepa.*"]) + CONFIG_PACKAGES,
    package_dir={"vjepa.configs": "configs"},
    package_data={name: ["*.yaml"] for name in CONFIG_PACKAGES},
)
