# shellcheck shell=bash
# What makes a path safe for root to use, sourced by scripts/install-service.sh
# and scripts/install-tree.sh (both run as root).
#
#   path_problem PATH      why PATH cannot go into a unit, a plist or a
#                          Corefile as it is, or nothing
#   root_path_problem PATH [UID]
#                          why root must not write, chmod, chown, read as
#                          its own or delete through PATH, or nothing

# path_problem PATH: an absolute path of printable characters without white
# space, %, $, quotes, backquotes or backslashes: a unit's Exec line expands
# % and $ and splits at white space, a Corefile splits at white space, and a
# newline would start a line of its own in either.
path_problem() {
  case "$1" in
    /*) ;;
    *) echo "is not an absolute path"; return ;;
  esac
  case "$1" in
    *[[:cntrl:][:space:]%\$\'\"\`\\]*)
      echo "holds a control character, white space, %, \$, a quote, a backquote or a backslash"
      return ;;
  esac
  case "/$1/" in
    */../*|*/./*) echo "has a '.' or '..' component" ;;
  esac
}

# root_path_problem PATH [UID]: every folder on the way to PATH, and PATH
# itself when it exists, symlinks followed, is owned by root (or by UID,
# default the user running this: a test under MULTIPASS_SERVICE_ROOT) and
# writable by no one else unless sticky (/tmp), and every symlink on the way
# is owned by root. Then no other user can have swapped a folder or planted a
# link that turns root's write, chown or rm towards a file of their choice.
# What does not exist yet is fine: root creates it, in a folder that passed.
root_path_problem() {
  perl -e '
    my ($path, $me) = @ARGV;
    my @todo = grep { length } split m{/}, $path;
    my ($at, $links) = ("", 0);
    sub owner { my $name = getpwuid($_[0]); defined $name ? $name : "uid $_[0]" }
    while (@todo) {
      my $name = shift @todo;
      next if $name eq ".";
      if ($name eq "..") { $at =~ s{/[^/]*$}{}; next }
      my $here = "$at/$name";
      my @st = lstat $here or exit 0;
      my ($mode, $uid) = @st[2, 4];
      if (-l _) {
        if ($uid != 0) { print "$here is a symlink owned by ", owner($uid); exit 0 }
        if (++$links > 40) { print "$here: too many symlinks"; exit 0 }
        my $target = readlink $here;
        $at = "" if $target =~ m{^/};
        unshift @todo, grep { length } split m{/}, $target;
        next;
      }
      if ($uid != 0 && $uid != $me) { print "$here is owned by ", owner($uid); exit 0 }
      if (($mode & 022) && !(-d _ && ($mode & 01000))) {
        printf "%s is writable by %s", $here, ($mode & 02) ? "every user" : "its group";
        exit 0;
      }
      $at = $here;
    }' "$1" "${2:-$(id -u)}"
}
