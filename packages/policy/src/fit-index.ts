// Hosts in a grid of buckets by remaining CPU (under a band) × remaining memory, for
// multi-dimensional best fit without sorting or scanning every host: start at the cell that can
// just hold the demand, walk to larger cells, and take the tightest of the first few feasible
// hosts. Every host visited outside the boundary cells fits both dimensions, so the walk stays
// short even when many hosts are full in one dimension. Insert and remove are O(1).

const CPU_BUCKETS = 64;
/** At most 30: a CPU row's non-empty cells are the bits of one 32-bit integer. */
const MEM_BUCKETS = 16;

export class FitIndex {
  private readonly cells: number[][];
  /**
   * Per CPU row, bit `mb` set when cell (row, mb) holds a host: `find` visits only those cells. Most
   * cells are empty (hosts bunch in a few memory buckets), and walking them was most of its time.
   */
  private readonly rowCells: Int32Array;
  private readonly cellOf: Int32Array;
  private readonly posOf: Int32Array;
  private readonly cpuWidth: number;
  private readonly memWidth: number;
  private readonly memBuckets: number;

  /**
   * @param maxCpu largest remaining CPU any host can have
   * @param maxMem largest remaining memory (Infinity when memory is not enforced)
   */
  constructor(
    hostCount: number,
    maxCpu: number,
    maxMem: number,
    private readonly cpuLeft: (h: number) => number,
    private readonly memLeft: (h: number) => number,
  ) {
    this.memBuckets = Number.isFinite(maxMem) ? MEM_BUCKETS : 0;
    this.cells = Array.from({ length: (CPU_BUCKETS + 1) * (this.memBuckets + 1) }, () => []);
    this.rowCells = new Int32Array(CPU_BUCKETS + 1);
    this.cellOf = new Int32Array(hostCount).fill(-1);
    this.posOf = new Int32Array(hostCount);
    this.cpuWidth = Math.max(maxCpu, 1) / CPU_BUCKETS;
    this.memWidth = Number.isFinite(maxMem) ? Math.max(maxMem, 1) / MEM_BUCKETS : 1;
  }

  private cpuBucket(x: number): number {
    return Math.min(CPU_BUCKETS, Math.max(0, Math.floor(x / this.cpuWidth)));
  }
  private memBucket(x: number): number {
    return this.memBuckets === 0 ? 0 : Math.min(this.memBuckets, Math.max(0, Math.floor(x / this.memWidth)));
  }

  has(h: number): boolean {
    return (this.cellOf[h] ?? -1) >= 0;
  }

  /** (Re)insert with its current remaining capacity; hosts with no CPU left are left out. */
  update(h: number): void {
    this.remove(h);
    const c = this.cpuLeft(h);
    const m = this.memLeft(h);
    if (!(c > 0) || !(m > 0)) return;
    const row = this.cpuBucket(c);
    const cell = row * (this.memBuckets + 1) + this.memBucket(m);
    const list = this.cells[cell] as number[];
    this.cellOf[h] = cell;
    this.posOf[h] = list.length;
    list.push(h);
    this.rowCells[row] = (this.rowCells[row] ?? 0) | (1 << (cell - row * (this.memBuckets + 1)));
  }

  remove(h: number): void {
    const cell = this.cellOf[h] ?? -1;
    if (cell < 0) return;
    const list = this.cells[cell] as number[];
    const i = this.posOf[h] ?? 0;
    const last = list.pop() as number;
    if (last !== h) {
      list[i] = last;
      this.posOf[last] = i;
    }
    this.cellOf[h] = -1;
    if (list.length === 0) {
      const row = Math.floor(cell / (this.memBuckets + 1));
      this.rowCells[row] = (this.rowCells[row] ?? 0) & ~(1 << (cell - row * (this.memBuckets + 1)));
    }
  }

  /**
   * Best fit: among the first `want` hosts that hold (cpu, mem) and that `ok` accepts, walking
   * from the tightest cells, the one with the lowest `leftover`. Visits at most `maxVisits`.
   */
  find(cpu: number, mem: number, ok: (h: number) => boolean, leftover: (h: number) => number, want = 4, maxVisits = 4096): number | null {
    let best: number | null = null;
    let bestLeft = Infinity;
    let found = 0;
    let visits = 0;
    const stride = this.memBuckets + 1;
    const m0 = this.memBucket(mem);
    for (let row = this.cpuBucket(cpu); row <= CPU_BUCKETS; row++) {
      // The row's non-empty cells from m0 up, in memory order (lowest bit first).
      for (let bits = ((this.rowCells[row] ?? 0) >>> m0) << m0; bits !== 0; bits &= bits - 1) {
        const mb = 31 - Math.clz32(bits & -bits);
        const list = this.cells[row * stride + mb] as number[];
        for (let i = 0; i < list.length; i++) {
          const h = list[i] as number;
          if (++visits > maxVisits) return best;
          if (this.cpuLeft(h) < cpu || this.memLeft(h) < mem || !ok(h)) continue;
          const l = leftover(h);
          if (l < bestLeft || (l === bestLeft && best !== null && h < best)) {
            bestLeft = l;
            best = h;
          }
          if (++found >= want) return best;
        }
      }
    }
    return best;
  }
}
