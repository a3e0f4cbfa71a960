/**
 * /init of the tiny guest (busybox sh). Knobs come from the kernel command line, so one image
 * serves every test:
 *   drover.dirty_mb=8     size of the working set the guest keeps rewriting (MiB, 0 = none)
 *   drover.dirty_rate=8   MiB rewritten per second; "max" = as fast as the vCPU can
 *   drover.dirty_change=0 1 = every rewrite changes the bytes (the data shifts by a page each pass)
 *   drover.busy=0         number of shell loops burning CPU
 *   drover.tick_s=1       seconds between ticks
 * It prints `tick N` to the serial console every tick; the counter continuing on another host
 * after a migration proves the same guest kept running. Dirtying uses random data: zero pages
 * are sent cheaply by QEMU and would not stress a migration. By default each pass writes the same
 * bytes again: migration's dirty log sees every write, but QEMU's dirty-rate sampling compares page
 * hashes and sees none, so a guest whose measured rate must show (the cost model predicting from
 * it) sets dirty_change, as a real workload's writes change its pages.
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
CHANGE=$(arg dirty_change 0)
BUSY=$(arg busy 0)
TICK=$(arg tick_s 1)
echo "drover-guest: dirty_mb=$DIRTY_MB dirty_rate=$DIRTY_RATE busy=$BUSY tick_s=$TICK"
if [ "$DIRTY_MB" -gt 0 ] && [ "$DIRTY_RATE" != 0 ]; then
  (
    # Random data (zero pages cost QEMU nothing to send), but only 1 MiB of it: /dev/urandom is
    # slow under TCG. One cat|dd pair per chunk: a process per MiB would cap the rate at ~1 MiB/s.
    dd if=/dev/urandom of=/ws/block bs=1M count=1 2>/dev/null
    list() { i=0; while [ "$i" -lt "$1" ]; do echo /ws/block; i=$((i + 1)); done; }
    # With dirty_change, the block's tail from page SHIFT leads the stream, so each pass lands the
    # data one 4 KiB page further on; without it, the stream is the blocks alone.
    SHIFT=0
    write() {
      { [ "$CHANGE" = 1 ] && dd if=/ws/block bs=4k skip="$SHIFT" 2>/dev/null; cat $2; } |
        dd of=/ws/set bs=1M seek="$1" count="$3" conv=notrunc iflag=fullblock 2>/dev/null
      SHIFT=$(((SHIFT + 1) % 256))
    }
    ALL=$(list "$DIRTY_MB")
    write 0 "$ALL" "$DIRTY_MB"
    if [ "$DIRTY_RATE" = max ]; then
      while :; do write 0 "$ALL" "$DIRTY_MB"; done
    fi
    [ "$DIRTY_RATE" -gt "$DIRTY_MB" ] && CHUNK=$DIRTY_MB || CHUNK=$DIRTY_RATE
    PART=$(list "$CHUNK")
    off=0
    while :; do
      left=$DIRTY_RATE
      while [ "$left" -gt 0 ]; do
        [ $((off + CHUNK)) -gt "$DIRTY_MB" ] && off=0
        write "$off" "$PART" "$CHUNK"
        off=$((off + CHUNK))
        left=$((left - CHUNK))
      done
      sleep 1
    done
  ) &
  # The ticker must keep ticking however hard the guest works: the load runs at the lowest priority.
  renice -n 19 -p $! >/dev/null 2>&1
fi
b=0
while [ "$b" -lt "$BUSY" ]; do
  ( while :; do :; done ) &
  renice -n 19 -p $! >/dev/null 2>&1
  b=$((b + 1))
done
n=0
while :; do
  n=$((n + 1))
  echo "tick $n"
  sleep "$TICK"
done
`;
