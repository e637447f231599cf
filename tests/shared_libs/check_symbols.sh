#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Usage: check_symbols.sh READELF LIB.so...
#
# For each shared library that includes ebb (built with -fvisibility=hidden):
#   - the context-switch routines (ebb_v1_x86_64_sysv_switch, ..._fiber_start: every ebb_vN_* symbol
#     but the thread state and copy_thread_state) are NOT in the dynamic symbol table (hidden: one private copy per library,
#     never bound across libraries), and where the static symbol table is present they are LOCAL;
#   - ebb_v1_thread_state IS in the dynamic symbol table: defined, TLS, DEFAULT visibility, and the
#     library's own uses go through dynamic relocations, so the dynamic linker binds every library to
#     one per-thread state. Binding WEAK or UNIQUE as compiled normally; GCC's link-time optimisation
#     turns such COMDAT definitions into GLOBAL ones, which glibc interposes just the same;
#   - ebb_v1_copy_thread_state IS in the dynamic symbol table: a DEFAULT-visibility function, one per
#     library, that os/linux/loaded_objects.hpp finds with dlsym in each loaded object to notice a
#     second copy of the runtime;
#   - the reservation pool (process_pool_storage), the per-thread cache (thread_reservations), the
#     guard method (process_guard_method) and the runtime's identity (runtime_identity) are exported
#     likewise where the library defines them, and never kept as a private copy.
# Exit 0 = all checks passed; 77 = readelf unavailable (skipped).
set -u
readelf=$1
shift
if ! command -v "$readelf" >/dev/null 2>&1; then
  echo "SKIP: $readelf not found"
  exit 77
fi

status=0
fail() {
  echo "FAIL: $*" >&2
  status=1
}

# readelf -W --dyn-syms / -s columns: Num: Value Size Type Bind Vis Ndx Name
for lib in "$@"; do
  echo "== $lib"
  dyn=$("$readelf" -W --dyn-syms "$lib") || { fail "$lib: readelf failed"; continue; }
  all=$("$readelf" -W -s "$lib")
  relocs=$("$readelf" -W -r "$lib")

  # ebb's assembly routines (ebb_vN_<arch>_switch, ..._fiber_start, ...): never in the dynamic
  # symbol table, LOCAL in the static one. Only the thread state and the function that answers it
  # (copy_thread_state) may be exported among ebb_vN_*.
  exported=$(printf '%s\n' "$dyn" | awk '$8 ~ /^ebb_v[0-9]+_/ && $8 !~ /_thread_state$/ { print $8 }')
  [ -z "$exported" ] || fail "$lib exports assembly-level symbols that must be hidden:" $exported
  routines=$(printf '%s\n' "$all" | awk '$8 ~ /^ebb_v[0-9]+_/ && $8 !~ /_thread_state$/ { print $5, $8 }' | sort -u)
  if [ -z "$routines" ]; then
    echo "   no ebb_vN_* routine in .symtab (stripped?); .dynsym has none either"
  fi
  while read -r bind name; do
    [ -n "$name" ] || continue
    if [ "$bind" = LOCAL ]; then
      echo "   $name: LOCAL in .symtab, not in .dynsym"
    else
      fail "$lib: $name has binding $bind in .symtab, want LOCAL (hidden)"
    fi
  done <<<"$routines"
  printf '%s\n' "$routines" | grep -Eq '_switch$' || [ -z "$routines" ] ||
    fail "$lib: no context-switch routine (ebb_vN_*_switch) found"

  # Symbols that must be one per process: exported for interposition where this library defines
  # them. $4 = required: the library must define it (the thread state is emitted by the object-format header's
  # top-level assembly into every library); otherwise a library that never uses the variable may
  # lack it (compilers emit an inline variable only where it is used), or import it.
  check_shared() {  # $1 = awk regex on the name, $2 = description, $3 = wanted type (regex), $4 = required
    local line
    line=$(printf '%s\n' "$dyn" | awk -v pat="$1" '$8 ~ pat && $7 != "UND"' | head -n 1)
    if [ -z "$line" ]; then
      if printf '%s\n' "$dyn" | awk -v pat="$1" '$8 ~ pat { found = 1 } END { exit !found }'; then
        echo "   $2: imported (undefined here), bound at load time"
      elif printf '%s\n' "$all" | awk -v pat="$1" '$8 ~ pat { found = 1 } END { exit !found }'; then
        fail "$lib has a private (hidden or local) copy of $2: $(printf '%s\n' "$all" | awk -v pat="$1" '$8 ~ pat' | head -n 1)"
      elif [ "$4" = required ]; then
        fail "$lib does not export a definition of $2"
      else
        echo "   $2: not used by this library"
      fi
      return
    fi
    read -r _ _ _ type bind vis _ name <<<"$line"
    case $bind in WEAK | UNIQUE | GLOBAL) ;; *) fail "$lib: $2 has binding $bind, want WEAK, UNIQUE or GLOBAL: $line" ;; esac
    # Exported is not enough: code that reached its own copy directly (not through the GOT or a TLS
    # relocation) would keep a private one whatever the dynamic linker chose.
    printf '%s\n' "$relocs" | awk -v sym="$name" '$5 == sym { found = 1 } END { exit !found }' ||
      fail "$lib: no dynamic relocation refers to $2: its uses bind to this library's own copy"
    [ "$vis" = DEFAULT ] || fail "$lib: $2 has visibility $vis, want DEFAULT: $line"
    [[ $type =~ $3 ]] || fail "$lib: $2 has type $type, want $3: $line"
    echo "   $2: $type $bind $vis in .dynsym, used through dynamic relocations"
  }
  check_shared '^ebb_v[0-9]+_thread_state$' ebb_v1_thread_state '^TLS$' required
  # The copy's own answer: exported (dlsym must find it in every object), defined here, a function.
  line=$(printf '%s\n' "$dyn" | awk '$8 ~ /^ebb_v[0-9]+_copy_thread_state$/ && $7 != "UND"' | head -n 1)
  if [ -z "$line" ]; then
    fail "$lib does not export ebb_v1_copy_thread_state (the runtime-copy search cannot ask it)"
  else
    read -r _ _ _ type _ vis _ _ <<<"$line"
    [ "$type" = FUNC ] && [ "$vis" = DEFAULT ] || fail "$lib: ebb_v1_copy_thread_state is $type $vis, want FUNC DEFAULT"
    echo "   ebb_v1_copy_thread_state: $type $vis in .dynsym"
  fi
  check_shared '^_ZN3ebb10runtime_v120process_pool_storageE$' 'ebb::runtime_v1::process_pool_storage' '^OBJECT$' optional
  check_shared '^_ZN3ebb10runtime_v119thread_reservationsE$' 'ebb::runtime_v1::thread_reservations' '^TLS$' optional
  check_shared '^_ZN3ebb10runtime_v12os20process_guard_methodE$' 'ebb::runtime_v1::os::process_guard_method' '^OBJECT$' optional
  check_shared '^_ZN3ebb10runtime_v116runtime_identityE$' 'ebb::runtime_v1::runtime_identity' '^OBJECT$' optional
done

[ $status -eq 0 ] && echo "PASS: symbol visibility as designed in $# libraries"
exit $status
