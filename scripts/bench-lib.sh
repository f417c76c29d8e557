# Shared by the benchmark scripts (sourced). $bytes is the size each rate is computed for.

# seconds a command takes, to the microsecond (its output discarded)
elapsed() { local s e; s=$(date +%s%N); "$@" >/dev/null; e=$(date +%s%N); echo "scale=6; ($e - $s) / 1000000000" | bc; }
# the median of three runs of a command, each after `cold` (defined by the script)
median3() { local a b c; cold; a=$(elapsed "$@"); cold; b=$(elapsed "$@"); cold; c=$(elapsed "$@"); printf '%s\n' "$a" "$b" "$c" | sort -g | sed -n 2p; }
mbs() { echo "scale=0; $bytes / $1 / 1000000" | bc; }
ratio() { echo "scale=2; $1 / $2" | bc; }
verdict() { if [ "$(echo "$1" | bc)" = 1 ]; then echo met; else echo MISSED; fi; }

# Write runs make a new image each: `n=$(fresh KIND PREFIX)` draws a name (runs happen in
# subshells) and records it in $work/written; `remove_written` then removes each through the
# script's `remove KIND NAME`, so the backend does not fill up over the runs.
fresh() { local n; n="$2-$(cut -c1-8 /proc/sys/kernel/random/uuid)"; echo "$1 $n" >> "$work/written"; echo "$n"; }
remove_written() {
  if [ -f "$work/written" ]; then
    while read -r kind name; do remove "$kind" "$name"; done < "$work/written"
  fi
  : > "$work/written"
}

# libfuse's passthrough_ll, built from the examples Debian's libfuse3-dev ships, into DIR.
build_passthrough_ll() {
  cp /usr/share/doc/libfuse3-dev/examples/passthrough_ll.c /usr/share/doc/libfuse3-dev/examples/passthrough_helpers.h "$1/"
  gcc -O2 -o "$1/passthrough_ll" "$1/passthrough_ll.c" $(pkg-config --cflags --libs fuse3)
}

# $work/glance-api.conf: a file store `local` on $work/data, one more store, the reserved stores.
#   write_config ID TYPE DEFAULT_ID OPTION_LINES
write_config() {
  cat > "$work/glance-api.conf" <<CONF
[DEFAULT]
enabled_backends = local:file, $1:$2
[glance_store]
default_backend = $3
[local]
filesystem_store_datadir = $work/data
[$1]
$4
$(reserved_sections)
CONF
}

# The reserved stores' sections, on $work/staging and $work/tasks.
reserved_sections() {
  printf '[os_glance_staging_store]\nfilesystem_store_datadir = %s/staging\n[os_glance_tasks_store]\nfilesystem_store_datadir = %s/tasks\n' "$work" "$work"
}
