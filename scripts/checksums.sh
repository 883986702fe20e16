#!/usr/bin/env bash
# Writes ffi/lib/checksums.json: the package version and the sha256 of every
# library under ffi/lib/<target>/. The loader checks a library it downloads
# (when the package was imported from a URL, as from JSR) against it.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' deno.json | head -n 1)
[ -n "$version" ] || {
  echo "scripts/checksums.sh: no version in deno.json" >&2
  exit 1
}

entries=()
stale=()
for lib in ffi/lib/*/libcpipe.so ffi/lib/*/libcpipe.dylib ffi/lib/*/cpipe.dll; do
  [ -f "$lib" ] || continue
  entries+=("$(printf '    "%s": "%s"' "${lib#ffi/lib/}" "$(sha256sum "$lib" | cut -d ' ' -f 1)")")
  [ -z "$(find csrc -newer "$lib" -print -quit)" ] || stale+=("${lib#ffi/lib/}")
done
if [ ${#stale[@]} -gt 0 ]; then
  echo "scripts/checksums.sh: warning: older than csrc/: ${stale[*]}; run \`make cross\` before publishing" >&2
fi

out=ffi/lib/checksums.json
mkdir -p ffi/lib
{
  printf '{\n  "version": "%s",\n  "files": {' "$version"
  if [ ${#entries[@]} -gt 0 ]; then
    printf '\n'
    (
      IFS=$'\n'
      echo "${entries[*]}" | sed '$!s/$/,/'
    )
    printf '  }\n}\n'
  else
    printf '}\n}\n'
  fi
} >"$out.tmp"
mv "$out.tmp" "$out"
echo "$out: version $version, ${#entries[@]} libraries"
