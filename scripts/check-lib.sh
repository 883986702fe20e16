#!/usr/bin/env bash
# Checks one built library: usage `scripts/check-lib.sh <target> <file>`.
#   - the format and architecture are the target's (`file`);
#   - it links to nothing but the platform's C library (and ws2_32 on Windows);
#   - it exports every function of ffi/symbols.ts, and nothing but cpipe_*;
#   - release builds are stripped.
# Prints one summary line, or what is wrong and exits 1.
set -euo pipefail
target=$1
lib=$2
cd "$(dirname "$0")/.."

fail() {
  echo "FAIL $target ($lib): $*" >&2
  exit 1
}
[ -f "$lib" ] || fail "no such file"

description=$(file -b "$lib")
case $target in
  x86_64-linux-*) format='^ELF 64-bit LSB shared object, x86-64,' ;;
  aarch64-linux-*) format='^ELF 64-bit LSB shared object, ARM aarch64,' ;;
  x86_64-macos) format='^Mach-O 64-bit (x86_64 dynamically linked shared library|dynamically linked shared library x86_64)' ;;
  aarch64-macos) format='^Mach-O 64-bit (arm64 dynamically linked shared library|dynamically linked shared library arm64)' ;;
  x86_64-windows-gnu) format='^PE32\+ executable \(DLL\).* x86-64' ;;
  *) fail "unknown target" ;;
esac
grep -Eq "$format" <<<"$description" || fail "format is '$description'"

# Dependencies and exported names, per object format.
case $target in
  *-linux-*)
    deps=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
    exports=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVWi]$/ {print $3}')
    case $target in
      *-musl) allowed='^libc\.so$' ;;
      *) allowed='^(libc\.so\.6|libpthread\.so\.0|libdl\.so\.2|libm\.so\.6|librt\.so\.1|ld-linux-[a-z0-9-]+\.so\.[0-9])$' ;;
    esac
    grep -q 'not stripped' <<<"$description" && fail "not stripped"
    if [[ $target == *-gnu ]]; then
      # The Makefile builds for glibc 2.17; no symbol may need a newer one.
      glibc=$(readelf -V "$lib" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n 1)
      [ "$(printf '%s\nGLIBC_2.17\n' "$glibc" | sort -V | tail -n 1)" = GLIBC_2.17 ] || fail "needs $glibc (> 2.17)"
      deps="$deps"$'\n'"(symbols up to $glibc)"
    fi
    ;;
  *-macos)
    id=$(llvm-objdump --macho --dylib-id "$lib" | tail -n 1)
    deps=$(llvm-objdump --macho --dylibs-used "$lib" | tail -n +2 | awk '{print $1}' | grep -vxF "$id" || true)
    exports=$(llvm-nm --extern-only --defined-only "$lib" | awk '{print $3}' | sed 's/^_//' |
      grep -Ev '^(__dso_handle|_mh_dylib_header)$' || true)
    allowed='^/usr/lib/libSystem\.B\.dylib$'
    # zig's Mach-O linker keeps its own stubs (`*__thunk`) under `-x`; nothing else may remain.
    locals=$(llvm-nm "$lib" | awk '$2 ~ /^[tdbs]$/ {print $3}' | grep -v '__thunk$' || true)
    [ -z "$locals" ] || fail "not stripped: $(wc -l <<<"$locals") local symbols"
    if [ "$target" = aarch64-macos ]; then
      llvm-objdump --macho --private-headers "$lib" | grep -q LC_CODE_SIGNATURE || fail "no ad-hoc code signature"
    fi
    ;;
  *-windows-*)
    deps=$(objdump -p "$lib" | sed -n 's/^\s*DLL Name: //p')
    exports=$(objdump -p "$lib" | awk '/^\[Ordinal\/Name Pointer\] Table/ {on = 1; next} on && /^[ \t]*\[/ {print $NF} on && /^$/ {on = 0}')
    allowed='^([Kk][Ee][Rr][Nn][Ee][Ll]32\.dll|[Ww][Ss]2_32\.dll|api-ms-win-crt-[a-z0-9-]+\.dll|msvcrt\.dll|ucrtbase\.dll)$'
    objdump -h "$lib" | grep -q '\.debug_' && fail "not stripped (.debug_* sections)"
    ;;
esac

bad_deps=$(grep -Ev "$allowed" <<<"$deps" | grep -v '^$' | grep -v '^(symbols up to' || true)
[ -z "$bad_deps" ] || fail "depends on $(tr '\n' ' ' <<<"$bad_deps")"

expected=$(grep -oE '^  cpipe_[a-z0-9_]+: \{' ffi/symbols.ts | grep -oE 'cpipe_[a-z0-9_]+' | sort -u)
[ -n "$expected" ] || fail "no symbols found in ffi/symbols.ts"
missing=$(comm -23 <(echo "$expected") <(sort -u <<<"$exports"))
[ -z "$missing" ] || fail "does not export $(tr '\n' ' ' <<<"$missing")"
foreign=$(grep -Ev '^cpipe_' <<<"$exports" | grep -v '^$' || true)
[ -z "$foreign" ] || fail "exports more than cpipe_*: $(tr '\n' ' ' <<<"$foreign")"

size=$(wc -c <"$lib")
printf 'ok %-20s %7d bytes  %s\n' "$target" "$size" "$description"
printf '   %-20s links: %s\n' "" "$(tr '\n' ' ' <<<"$deps")"
printf '   %-20s exports: %d cpipe_* functions (all %d of ffi/symbols.ts)\n' "" \
  "$(grep -c '^cpipe_' <<<"$exports")" "$(wc -l <<<"$expected")"
