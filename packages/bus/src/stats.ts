import { subjectPattern } from "@drover/protocol";

export interface BusStats {
  /** Messages this bus sent (publishes, requests, replies). */
  published: number;
  /** Valid messages handed to a handler or returned as a reply. */
  received: number;
  /** Messages rejected on receipt: bad JSON or schema failure. */
  invalid: number;
  /** By subject, a migration id folded to `*` (subjectPattern), so made-up ids cannot grow it. */
  invalidBySubject: Record<string, number>;
  /** Handler exceptions caught (the subscription went on). */
  handlerErrors: number;
}

export class StatsCounter {
  published = 0;
  received = 0;
  invalid = 0;
  handlerErrors = 0;
  private readonly bySubject = new Map<string, number>();

  countInvalid(subject: string): void {
    this.invalid++;
    const key = subjectPattern(subject);
    this.bySubject.set(key, (this.bySubject.get(key) ?? 0) + 1);
  }

  snapshot(): BusStats {
    return {
      published: this.published,
      received: this.received,
      invalid: this.invalid,
      invalidBySubject: Object.fromEntries(this.bySubject),
      handlerErrors: this.handlerErrors,
    };
  }
}
