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
# The addon's RUNPATH is $ORIGIN: it finds this copy first, the host's libbpf.so.1 otherwise.
libbpf=$(ldd build/Release/ctrace.node | awk '$1 == "libbpf.so.1" { print $3 }')
if [ -z "$libbpf" ] || [ ! -f "$libbpf" ]; then
  echo "prebuild: libbpf.so.1 not found by ldd build/Release/ctrace.node" >&2
  exit 1
fi
cp -L "$libbpf" "$out/libbpf.so.1"
# The same object the addon embeds (its skeleton): shipped for inspection (bpftool, llvm-objdump).
cp build/ctrace.bpf.o "$out/ctrace.bpf.o"
echo "prebuild: $out: $(cd "$out" && ls | tr '\n' ' ')" >&2
