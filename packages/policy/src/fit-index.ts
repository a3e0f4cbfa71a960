// Hosts bucketed by remaining CPU (under a band), for best-fit placement without sorting or
// scanning every host: find the bucket that can hold the demand, walk upward, and take the
// tightest of the first few feasible hosts. Insert and remove are O(1).

const BUCKETS = 256;

export class FitIndex {
  private readonly buckets: number[][] = Array.from({ length: BUCKETS + 1 }, () => []);
  private readonly bucketOf: Int32Array;
  private readonly posOf: Int32Array;
  private readonly width: number;

  constructor(hostCount: number, maxRemaining: number, private readonly remaining: (h: number) => number) {
    this.bucketOf = new Int32Array(hostCount).fill(-1);
    this.posOf = new Int32Array(hostCount);
    this.width = Math.max(maxRemaining, 1) / BUCKETS;
  }

  has(h: number): boolean {
    return (this.bucketOf[h] ?? -1) >= 0;
  }

  /** (Re)insert with its current remaining capacity; hosts with none are left out. */
  update(h: number): void {
    this.remove(h);
    const r = this.remaining(h);
    if (!(r > 0)) return;
    const b = Math.min(BUCKETS, Math.floor(r / this.width));
    const list = this.buckets[b] as number[];
    this.bucketOf[h] = b;
    this.posOf[h] = list.length;
    list.push(h);
  }

  remove(h: number): void {
    const b = this.bucketOf[h] ?? -1;
    if (b < 0) return;
    const list = this.buckets[b] as number[];
    const i = this.posOf[h] ?? 0;
    const last = list.pop() as number;
    if (last !== h) {
      list[i] = last;
      this.posOf[last] = i;
    }
    this.bucketOf[h] = -1;
  }

  /**
   * Best fit for `demand`: among the first `want` hosts (in order of remaining capacity, from the
   * smallest that can hold it) that `ok` accepts, the one with the lowest `leftover`. Visits at
   * most `maxVisits` hosts.
   */
  find(demand: number, ok: (h: number) => boolean, leftover: (h: number) => number, want = 4, maxVisits = 512): number | null {
    let best: number | null = null;
    let bestLeft = Infinity;
    let found = 0;
    let visits = 0;
    for (let b = Math.min(BUCKETS, Math.max(0, Math.floor(demand / this.width))); b <= BUCKETS; b++) {
      const list = this.buckets[b] as number[];
      for (let i = 0; i < list.length; i++) {
        const h = list[i] as number;
        if (++visits > maxVisits) return best;
        if (this.remaining(h) < demand || !ok(h)) continue;
        const l = leftover(h);
        if (l < bestLeft || (l === bestLeft && best !== null && h < best)) {
          bestLeft = l;
          best = h;
        }
        if (++found >= want) return best;
      }
    }
    return best;
  }
}
