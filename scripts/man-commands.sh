#!/bin/sh
# man-commands.sh SHARDNET OUT - the help2man include file for the man page:
# one section per subcommand, holding that subcommand's --help text verbatim.
set -eu
bin=$1 out=$2
cmds=$("$bin" --help | sed -n 's/^  \([a-z][a-z-]*\)  .*/\1/p')
[ -n "$cmds" ] || { echo "man-commands.sh: no commands in '$bin --help'" >&2; exit 1; }
{
  printf '[COMMANDS]\n'
  for c in $cmds; do
    printf '.SS "shardnet %s"\n.nf\n' "$c"
    # roff: a leading dot or quote would be a request; backslashes are escapes
    "$bin" "$c" --help | sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
    printf '.fi\n'
  done
  printf '[SEE ALSO]\nThe README.md of the shardnet sources; shardnet COMMAND --help.\n'
} > "$out"
