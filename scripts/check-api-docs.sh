#!/usr/bin/env bash
# scripts/check-api-docs.sh — is every public name of ebb's headers mentioned in docs/api.md?
#
# Usage: scripts/check-api-docs.sh [--list] [api.md]
#   --list   print the names found (kind, scope, name, where) and exit 0
# Exit status: 0 when every name is documented, 1 (naming each missing one) otherwise.
#
# This is a grep/awk reading of the headers, not a C++ parser. It relies on the headers' layout
# (clang-format, two-space indents) and on these heuristics:
#
# Which headers: include/ebb/*.hpp, include/ebb/{policies,allocators,mappers,os}/**/*.hpp. Only the
# text between EBB_NAMESPACE_BEGIN and EBB_NAMESPACE_END counts (namespace ebb, versioned); inside
# it, any `namespace detail {` (or other nested namespace except `this_fiber`) is skipped up to its
# `}  // namespace` line. So ebb::detail, ebb::runtime_v1 (EBB_RUNTIME_BEGIN blocks) and helpers
# outside the versioned namespace (os/windows/process_memory.hpp: a test and benchmark helper,
# "not used by ebb itself") are not public names.
#
# What is a name, at namespace level (a line that starts in column 0):
#   class/struct/enum class NAME, `using NAME =`, `concept NAME`, `inline constexpr T NAME =`, and
#   functions: the identifier just before the first `(` on a column-0 line that is not a keyword,
#   a preprocessor line, a comment or `template <...>`. In `namespace this_fiber` the same, scoped
#   `this_fiber`.
# Members, for a class/struct/enum found above (nested classes too, by indentation: the body is
# indented two more than the `class` line, access specifiers one more):
#   only public ones (struct: public until a specifier says otherwise; class: private until then);
#   member functions (identifier before the first `(`), skipping constructors, destructors,
#   operators, friends, static_assert and `= delete`d members; data members and static constexpr
#   members (last identifier before `=`, `{`, `[` or `;`); `using NAME =`; enumerators.
# Macros: `#ifndef EBB_X` + `#define EBB_X` pairs (settings a user may set) in any header under
# include/ebb; every `#define EBB_*` of version.hpp whose name does not end in `_` and is not a
# STRINGIFY helper; EBB_OS_*, EBB_ARCH_*, EBB_HAS_* of config.hpp (what a user may test); and
# function-like EBB_* macros of the top-level headers other than config.hpp (EBB_THREAD_LOCAL_ACCESSOR).
#
# When is a name documented (docs/api.md's code: `backtick spans` and ``` blocks; a name must
# appear there as a whole word, not merely in prose; a function or member function as `name(`, so
# that a field or a prose word of the same name does not stand in for it):
#   namespace-level names and macros: anywhere in that code;
#   members: in the code of one `## ` section of api.md that also names their class (for a nested
#   class, the innermost one: `iterator`, `postfix_proxy`).
# The `## Index` section is not counted: it points at entries, it does not document them, so deleting
# an entry fails the check even though the index still lists the name.
set -euo pipefail

cd "$(dirname "$0")/.."
list_only=0
if [[ "${1:-}" == "--list" ]]; then list_only=1; shift; fi
doc="${1:-docs/api.md}"

headers=$(ls include/ebb/*.hpp; find include/ebb/policies include/ebb/allocators include/ebb/mappers include/ebb/os -name '*.hpp' | sort)

# ---- names the headers declare: "kind|scope|name|file:line" --------------------------
names=$(
  # shellcheck disable=SC2086
  awk '
  function ltrim(s) { sub(/^[ \t]+/, "", s); return s }
  function indent(s) { match(s, /^ */); return RLENGTH }
  function emit(kind, scope, name) {
    if (name == "" || name ~ /^(if|for|while|return|switch|sizeof|decltype|noexcept|alignof|static_assert|defined|operator|template|typename|const|void|bool|auto)$/) return
    key = scope "\t" name
    if (key in seen) return
    seen[key] = 1
    printf "%s|%s|%s|%s:%d\n", kind, scope, name, FILENAME, FNR
  }
  # The identifier just before the first "(" of s ("" if none, or if it is an operator).
  function before_paren(s,   pre, n, parts) {
    pre = s; sub(/\(.*/, "", pre)
    if (pre ~ /operator/) return ""
    if (pre ~ /~/) return ""
    n = split(pre, parts, /[^A-Za-z0-9_]+/)
    while (n > 0 && parts[n] == "") n--
    return n > 0 ? parts[n] : ""
  }
  # A data member: the identifier before =, {, [ or ;.
  function data_name(s,   pre, n, parts) {
    pre = s; sub(/[={\[;].*/, "", pre)
    n = split(pre, parts, /[^A-Za-z0-9_]+/)
    while (n > 0 && parts[n] == "") n--
    return n > 0 ? parts[n] : ""
  }
  FNR == 1 { inns = 0; skipns = 0; depth = 0; scopens = "" }
  /EBB_NAMESPACE_BEGIN/ { inns = 1; scopens = ""; depth = 0; next }
  /EBB_NAMESPACE_END/ { inns = 0; next }
  !inns { next }
  # nested namespaces: this_fiber is public, every other one (detail) is skipped
  /^namespace [A-Za-z_0-9]+ *\{/ {
    ns = $2
    if (skipns) { skipns++; next }
    if (ns == "this_fiber") { scopens = "this_fiber"; next }
    skipns = 1; next
  }
  /^\} *\/\/ *namespace/ { if (skipns) skipns--; else scopens = ""; next }
  skipns { next }
  {
    line = $0
    sub(/[ \t]*\/\/.*$/, "", line)          # comments
    if (line ~ /^[ \t]*$/ || line ~ /^[ \t]*#/) next
    ind = indent(line)
    body = ltrim(line)
    # close classes whose closing brace this is
    while (depth > 0 && ind == cind[depth] && body ~ /^\};/) { depth--; next }
    if (depth == 0) {
      if (ind != 0) next
      owner = scopens
      mind = -1
    } else {
      if (ind == cind[depth] + 1 && body ~ /^(public|private|protected):/) { acc[depth] = body; sub(/:.*/, "", acc[depth]); next }
      if (ind != cind[depth] + 2) next
      if (acc[depth] != "public") {
        # a nested class in a private part is still tracked, so its closing brace is found
        if (body ~ /^(template <.*> )?(class|struct) [A-Za-z_0-9]+[^;]*\{ *$/) { depth++; cind[depth] = ind; acc[depth] = "private"; cname[depth] = "" }
        next
      }
      owner = cname[depth]
    }
    if (body ~ /^template *</) next
    if (body ~ /^friend /) next
    if (body ~ /^(return|static_assert|if|for|while|\}|:|\{)/) next
    # enum class NAME { a, b };  or  enum class NAME : T {  (enumerators on the following lines)
    if (body ~ /^enum (class|struct) /) {
      n = body; sub(/^enum (class|struct) /, "", n); sub(/[^A-Za-z0-9_].*/, "", n)
      emit("enum", owner, n)
      if (body ~ /\{.*\}/) {
        inner = body; sub(/^[^{]*\{/, "", inner); sub(/\}.*/, "", inner)
        k = split(inner, items, /,/)
        for (i = 1; i <= k; i++) { it = ltrim(items[i]); sub(/[^A-Za-z0-9_].*/, "", it); emit("enumerator", n, it) }
      } else if (body ~ /\{ *$/) {
        inenum = n; enind = ind
        while ((getline nl) > 0) {
          t = nl; sub(/[ \t]*\/\/.*$/, "", t)
          if (ltrim(t) ~ /^\};/) break
          t = ltrim(t); sub(/[^A-Za-z0-9_].*/, "", t)
          if (t != "") emit("enumerator", inenum, t)
        }
      }
      next
    }
    # class / struct (definition or forward declaration)
    if (body ~ /^(class|struct) [A-Za-z_0-9]+/) {
      n = body; sub(/^(class|struct) /, "", n); sub(/[^A-Za-z0-9_].*/, "", n)
      emit(body ~ /^class/ ? "class" : "struct", owner, n)
      if (body ~ /\{ *$/) {
        depth++; cind[depth] = ind; cname[depth] = n
        acc[depth] = body ~ /^struct/ ? "public" : "private"
      }
      next
    }
    if (body ~ /^using [A-Za-z_0-9]+ *=/) { n = body; sub(/^using /, "", n); sub(/[^A-Za-z0-9_].*/, "", n); emit("alias", owner, n); next }
    if (body ~ /^using /) next
    if (body ~ /^concept /) { n = body; sub(/^concept /, "", n); sub(/[^A-Za-z0-9_].*/, "", n); emit("concept", owner, n); next }
    if (body ~ /= *delete/) next
    # a function: "(" before any "=" / "{" / ";"
    pre = body; sub(/[={;].*/, "", pre)
    if (pre ~ /\(/) {
      n = before_paren(body)
      if (n == "" || (depth > 0 && n == cname[depth])) next
      emit(depth > 0 ? "member function" : "function", owner, n)
      next
    }
    if (body ~ /;$/ || body ~ /=/) {
      n = data_name(body)
      emit(depth > 0 ? "member" : "constant", owner, n)
    }
  }
  ' $headers

  # macros
  # shellcheck disable=SC2046
  awk '
    /^#ifndef EBB_[A-Z0-9_]+/ { want = $2; next }
    /^#define EBB_/ { if ($2 == want) printf "macro||%s|%s:%d\n", $2, FILENAME, FNR; want = ""; next }
    { want = "" }
  ' $(find include/ebb -name '*.hpp' | sort) | awk -F'|' '!seen[$3]++'
  awk '/^#define EBB_/ { n = $2; sub(/\(.*/, "", n); if (n !~ /_$/ && n !~ /STRINGIFY/) printf "macro||%s|%s:%d\n", n, FILENAME, FNR }' include/ebb/version.hpp
  awk '/^#define EBB_(OS|ARCH|HAS)_[A-Z0-9_]+/ { if (!seen[$2]++) printf "macro||%s|%s:%d\n", $2, FILENAME, FNR }' include/ebb/config.hpp
  for f in include/ebb/*.hpp; do
    [[ "$f" == include/ebb/config.hpp || "$f" == include/ebb/version.hpp ]] && continue
    awk '/^#define EBB_[A-Z0-9_]+\(/ { n = $2; sub(/\(.*/, "", n); printf "macro||%s|%s:%d\n", n, FILENAME, FNR }' "$f"
  done
)
names=$(awk -F'|' '!seen[$2 "|" $3]++' <<<"$names")

if [[ $list_only == 1 ]]; then
  printf '%s\n' "$names" | awk -F'|' '{ printf "%-16s %-26s %-28s %s\n", $1, $2, $3, $4 }'
  exit 0
fi

[[ -f "$doc" ]] || { echo "check-api-docs: $doc not found" >&2; exit 2; }

# ---- the documentation's code, one "## " section per record ------------------------------------
# Each output line: section number, then every code word of that section (backtick spans and fenced
# blocks), space-separated.
sections=$(awk '
  BEGIN { sec = 0 }
  /^## / { sec++; skip = ($0 ~ /^## Index/); carry = "" }
  skip { next }
  /^```/ { fence = !fence; next }
  {
    if (fence) { code[sec] = code[sec] " " $0; next }
    if ($0 ~ /^[ \t]*$/) { carry = ""; next }
    # a code span may run over a line break (Markdown joins the lines of a paragraph): an unmatched
    # backtick carries the rest of its line into the next one
    s = carry $0 " "; carry = ""
    while (match(s, /`[^`]+`/)) { code[sec] = code[sec] " " substr(s, RSTART + 1, RLENGTH - 2); s = substr(s, RSTART + RLENGTH) }
    if (index(s, "`")) carry = substr(s, index(s, "`"))
    if (/^## /) { h = $0; while (match(h, /`[^`]+`/)) { code[sec] = code[sec] " " substr(h, RSTART + 1, RLENGTH - 2); h = substr(h, RSTART + RLENGTH) } }
  }
  END {
    for (i = 0; i <= sec; i++) {
      w = code[i]; gsub(/[^A-Za-z0-9_]+/, " ", w)
      f = code[i]; gsub(/[^A-Za-z0-9_(]+/, " ", f); gsub(/\(/, "( ", f)
      print i " " w " " f " "
    }
  }
' "$doc")

missing=0
total=0
while IFS='|' read -r kind scope name where; do
  [[ -z "$name" ]] && continue
  total=$((total + 1))
  word=" $name "
  [[ "$kind" == *function ]] && word=" $name( "
  need_scope=" $scope "
  [[ -z "$scope" || "$scope" == this_fiber ]] && need_scope=" "
  # (one awk, not grep | grep -q: under pipefail an early exit of grep -q fails the pipeline)
  awk -v s="$need_scope" -v n="$word" 'index($0, s) && index($0, n) { found = 1; exit } END { exit !found }' \
    <<<"$sections" && continue
  label="ebb::$name"
  [[ -n "$scope" ]] && label="ebb::$scope::$name"
  [[ "$kind" == macro ]] && label="$name"
  echo "check-api-docs: not in $doc: $kind $label ($where)"
  missing=$((missing + 1))
done <<<"$names"

if [[ $missing -ne 0 ]]; then
  echo "check-api-docs: $missing of $total public names are not documented in $doc"
  exit 1
fi
echo "check-api-docs: all $total public names are documented in $doc"
