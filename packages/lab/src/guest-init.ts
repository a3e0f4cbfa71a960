/**
 * /init of the tiny guest (busybox sh). Knobs come from the kernel command line, so one image
 * serves every test:
 *   drover.dirty_mb=8     size of the working set the guest keeps rewriting (MiB, 0 = none)
 *   drover.dirty_rate=8   MiB rewritten per second; "max" = as fast as the vCPU can
 *   drover.busy=0         number of shell loops burning CPU
 *   drover.tick_s=1       seconds between ticks
 * It prints `tick N` to the serial console every tick; the counter continuing on another host
 * after a migration proves the same guest kept running. Dirtying uses random data: zero pages
 * are sent cheaply by QEMU and would not stress a migration.
 */
export const GUEST_INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /tmp /ws
mount -t proc proc /proc
arg() {
  for w in $(cat /proc/cmdline); do
    case "$w" in drover.$1=*) echo "\${w#*=}"; return ;; esac
  done
  echo "$2"
}
DIRTY_MB=$(arg dirty_mb 8)
DIRTY_RATE=$(arg dirty_rate 8)
BUSY=$(arg busy 0)
TICK=$(arg tick_s 1)
echo "drover-guest: dirty_mb=$DIRTY_MB dirty_rate=$DIRTY_RATE busy=$BUSY tick_s=$TICK"
if [ "$DIRTY_MB" -gt 0 ] && [ "$DIRTY_RATE" != 0 ]; then
  (
    # Random data, but only 1 MiB of it: /dev/urandom is slow under TCG. Built in the background
    # so the first tick comes right after boot.
    dd if=/dev/urandom of=/ws/block bs=1M count=1 2>/dev/null
    i=0
    while [ "$i" -lt "$DIRTY_MB" ]; do
      dd if=/ws/block of=/ws/set bs=1M seek="$i" count=1 conv=notrunc 2>/dev/null
      i=$((i + 1))
    done
    off=0
    while :; do
      if [ "$DIRTY_RATE" = max ]; then n=$DIRTY_MB; else n=$DIRTY_RATE; fi
      i=0
      while [ "$i" -lt "$n" ]; do
        dd if=/ws/block of=/ws/set bs=1M seek="$off" count=1 conv=notrunc 2>/dev/null
        off=$(( (off + 1) % DIRTY_MB ))
        i=$((i + 1))
      done
      [ "$DIRTY_RATE" = max ] || sleep 1
    done
  ) &
fi
b=0
while [ "$b" -lt "$BUSY" ]; do
  ( while :; do :; done ) &
  b=$((b + 1))
done
n=0
while :; do
  n=$((n + 1))
  echo "tick $n"
  sleep "$TICK"
done
`;
