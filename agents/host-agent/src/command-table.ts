import type { CommandReply } from "@drover/protocol";

/**
 * Commands by id for idempotency: the first reply is kept (and updated as a long command
 * progresses); a repeated id gets it back with `duplicate: true`. Bounded: the oldest entries are
 * forgotten first, and a restarted agent forgets all (then a repeated migrate is refused because the
 * VM is no longer here, which is safe).
 */
export class CommandTable {
  private readonly entries = new Map<string, CommandReply>();
  constructor(private readonly capacity: number) {}

  get(id: string): CommandReply | undefined {
    return this.entries.get(id);
  }

  /** Records the reply of a new id; returns false (and changes nothing) if the id is known. */
  claim(id: string, reply: CommandReply): boolean {
    if (this.entries.has(id)) return false;
    this.entries.set(id, reply);
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    return true;
  }

  update(id: string, patch: Partial<CommandReply>): void {
    const cur = this.entries.get(id);
    if (cur) this.entries.set(id, { ...cur, ...patch });
  }

  get size(): number {
    return this.entries.size;
  }
}
