#!/usr/bin/env bash
# Run HERE (the machine with the package registry), once, before a lent GPU session: the packages the GPU image
# lacks (diffusers, torchao) or holds at other versions (transformers, peft) land in .whl/ (git-ignored, ~25 MB),
# to travel with `carry: [".whl"]` (device README: wheels for Python 3.12 on manylinux x86-64).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
platforms=()
for tag in manylinux_2_28 manylinux_2_27 manylinux_2_24 manylinux_2_17 manylinux2014 manylinux1; do
  platforms+=(--platform "${tag}_x86_64")
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d .whl \
  diffusers==0.42.1 transformers==5.24.0 peft==0.21.2 torchao==0.18.0 importlib_metadata
ls -la .whl
