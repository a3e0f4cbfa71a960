// Terminal narration of the demo: step titles, what Drover decided and why, and facts checked
// independently of Drover (where the guest's QEMU runs, its tick counter).
const tty = process.stdout.isTTY;
const paint = (code: string, s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);

export const narrator = {
  step(n: number, title: string): void {
    process.stdout.write(`\n${paint("1;36", `== ${n}. ${title} ==`)}\n`);
  },
  say(s: string): void {
    process.stdout.write(`${s}\n`);
  },
  decided(s: string): void {
    process.stdout.write(`${paint("1;33", "Drover:")} ${s}\n`);
  },
  fact(s: string): void {
    process.stdout.write(`${paint("32", "  ✓")} ${s}\n`);
  },
  warn(s: string): void {
    process.stdout.write(`${paint("31", "  !")} ${s}\n`);
  },
  dim(s: string): void {
    process.stdout.write(`${paint("2", s)}\n`);
  },
};
