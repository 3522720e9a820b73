#!/usr/bin/env bash
# Run by `npm pack` (prepack): build everything, then put the addon for this platform, the
# libbpf it links and the BPF object in prebuilds/<platform>-<arch>/, which the package carries.
# The addon uses N-API 8 and the BPF object is CO-RE: one build serves every Node >= 20 and
# every kernel with BTF on this architecture. Installing the tarball then needs no compiler.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/build.sh
platform=$(node -p 'process.platform + "-" + process.arch')
out=prebuilds/$platform
rm -rf "$out"
mkdir -p "$out"
cp build/Release/ctrace.node "$out/ctrace.node"
strip --strip-unneeded "$out/ctrace.node"
# The addon's RUNPATH is $ORIGIN: it finds these copies first, the host's otherwise. libc,
# libstdc++ and zlib are on every host Node runs on.
for lib in libbpf.so.1 libelf.so.1; do
  path=$(ldd build/Release/ctrace.node | awk -v l="$lib" '$1 == l { print $3 }')
  if [ -z "$path" ] || [ ! -f "$path" ]; then
    echo "prebuild: $lib not found by ldd build/Release/ctrace.node" >&2
    exit 1
  fi
  cp -L "$path" "$out/$lib"
done
# The same object the addon embeds (its skeleton): shipped for inspection (bpftool, llvm-objdump).
cp build/ctrace.bpf.o "$out/ctrace.bpf.o"
echo "prebuild: $out: $(cd "$out" && ls | tr '\n' ' ')" >&2
