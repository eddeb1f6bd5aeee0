"""Build script. setup.cfg holds the metadata; this file adds one thing setup.cfg cannot say:
the ``lessons/`` folder of the repository ships inside the package as ``tinydl/lessons``, so
``pip install tinydl`` brings the lessons and ``tinydl lesson 06`` runs from site-packages."""
from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["tinydl", "tinydl.*"]) + ["tinydl.lessons"],
    package_dir={"tinydl.lessons": "lessons"},
)
