#!/bin/bash
# Vendored unchanged from ../shared/tools/sdbox.sh so that a fresh clone runs the system test alone.
# Boot a real systemd (PID 1 in its own pid+mount namespace) over a debootstrapped root.
# usage: sdbox.sh up ROOT   -> prints the PID of the box's systemd
#        sdbox.sh exec PID CMD...   (runs inside the box)
#        sdbox.sh down PID
# ROOT needs systemd installed (debootstrap --variant=minbase bookworm ROOT, then
# chroot ROOT apt-get install -y systemd). The box shares the host's kernel: its journal
# is persistent and carries the host's boot id, so tests filter journalctl with a cursor
# or --since, not -b.
set -euo pipefail
case "$1" in
up)
  R=$2
  # never start gettys on the host's terminals, and never let the box's sysctl settings reach the shared kernel
  for u in getty@tty1.service console-getty.service serial-getty@ttyS0.service getty.target systemd-sysctl.service; do
    ln -sf /dev/null "$R/etc/systemd/system/$u"
  done
  init=$R/.sdbox-init.sh
  cat > "$init" <<EOI
#!/bin/bash
set -e
R=$R
mount --make-rprivate /
mount --bind \$R \$R
mount -t proc proc \$R/proc
mount --rbind /sys \$R/sys
mount -t tmpfs -o mode=755 tmpfs \$R/dev
for n in null zero full random urandom tty; do touch \$R/dev/\$n; mount --bind /dev/\$n \$R/dev/\$n; done
mkdir -p \$R/dev/pts \$R/dev/shm; mount -t tmpfs tmpfs \$R/dev/shm
# a devpts and /dev/ptmx, as systemd's PrivateDevices= clones them (missing, units with it fail at NAMESPACE)
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts \$R/dev/pts; ln -sf pts/ptmx \$R/dev/ptmx
ln -sf /proc/self/fd \$R/dev/fd
mount -t tmpfs tmpfs \$R/run
mount -t tmpfs tmpfs \$R/tmp
cd \$R
exec chroot \$R env container=other /lib/systemd/systemd --system </dev/null >/dev/null 2>&1
EOI
  chmod +x "$init"
  setsid unshare --pid --fork --mount --uts --ipc "$init" </dev/null >/dev/null 2>&1 &
  us=$!
  # the box's PID 1 is unshare's only child, once it has exec'd systemd. Never pick "the newest process
  # named systemd": systemd's forked children carry its command line until they exec, inside a unit's own
  # mount namespace (ProtectHome= hides /root there), and exit moments later.
  pid=
  for i in $(seq 1 50); do
    c=$(pgrep -P "$us" | head -1 || true)
    if [ -n "$c" ] && [ "$(tr '\0' ' ' < /proc/$c/cmdline 2>/dev/null)" = "/lib/systemd/systemd --system " ]; then pid=$c; break; fi
    sleep 0.2
  done
  [ -n "$pid" ] || { echo "sdbox: the box's systemd did not start" >&2; exit 1; }
  for i in $(seq 1 100); do
    s=$(nsenter -t "$pid" -m -p -r -w systemctl is-system-running 2>/dev/null || true)
    case "$s" in running|degraded) break;; esac; sleep 0.2
  done
  echo "$pid"
  ;;
exec) pid=$2; shift 2; exec nsenter -t "$pid" -m -p -r -w "$@" ;;
down)
  nsenter -t "$2" -m -p -r -w systemctl poweroff || kill -s SIGRTMIN+4 "$2"
  for i in $(seq 1 50); do kill -0 "$2" 2>/dev/null || break; sleep 0.2; done
  # the box has no cgroup namespace: remove the (now empty) cgroups its systemd made, deepest first
  for h in /sys/fs/cgroup /sys/fs/cgroup/*; do
    for top in "$h/system.slice" "$h/init.scope"; do
      [ -d "$top" ] && find "$top" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
  done
  ;;
esac
