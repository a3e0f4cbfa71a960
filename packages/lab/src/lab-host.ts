import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { copyFile, mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "@drover/protocol";
import { DEFAULT_WOL_PORT, hostAddress, hostMac, hostUri, hostUuid, LIBVIRTD_PORT, migrationPorts } from "./addresses.js";
import { badOption, LabError, LabErrorCode } from "./errors.js";
import { cacheDir } from "./guest-image.js";
import { libvirtdConf, qemuConf } from "./host-config.js";
import { issueMigrationCerts, migrationCaDir } from "./migration-tls.js";
import { canConnect, isAlive, killProc, procRef, spawnDetached, stopProc, waitFor, type ProcRef } from "./proc.js";
import { ManagedProcess, type ManagedState } from "./supervisor.js";
import { phaseTimer } from "./phase-timer.js";
import type { SpawnSpec } from "./proc.js";
import { definedDomains, forget, ping } from "./virt.js";

const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** libvirt's directories, each bind-mounted from the host's own dir inside its mount namespace. */
export const PRIVATE_DIRS = {
  "/etc/libvirt": "etc",
  "/run/libvirt": "run",
  "/var/lib/libvirt": "lib",
  "/var/cache/libvirt": "cache",
  "/var/log/libvirt": "log",
} as const;

export interface LabHostOptions {
  /** Host name; also the UTS hostname of its libvirtd (e.g. "h1"). */
  name: string;
  /** Host index i: address 127.0.<net>.<i>. */
  index: number;
  /** Third octet of the lab's addresses (default 1). */
  net?: number;
  /** The lab's state dir; this host lives in <stateDir>/hosts/<name>. */
  stateDir: string;
  /**
   * Bridge names this host claims to have. Loopback mode cannot create bridges without touching
   * the root network namespace, so they are only recorded in <host dir>/lab-host.json (which the
   * agent may read as its bridge inventory); no guest NIC can attach to them.
   */
  bridges?: string[];
  /** UDP port of this host's Wake-on-LAN listener (default 9). */
  wolPort?: number;
  /**
   * Namespace mode (see netns.ts): the host lives in this network namespace with this address;
   * libvirtd, the agent and the Wake-on-LAN "NIC" process run inside it, and `bridges` are
   * real bridges there.
   */
  netns?: { ns: string; address: string };
  /**
   * false: qemu.conf still names the host's migration cert dir, but the lab puts no certificates
   * there, like a host nobody set up for TLS migration (default true). installMigrationCerts() adds them.
   */
  migrationCerts?: boolean;
  logger?: Logger;
}

/** What a host persists in lab-host.json; enough for another process to find and stop it. */
export interface LabHostState {
  name: string;
  index: number;
  net: number;
  address: string;
  uri: string;
  mac: string;
  hostUuid: string;
  migrationPorts: { min: number; max: number };
  dir: string;
  sharedDir: string;
  bridges: string[];
  /** "recorded": bridges are names in this file only (loopback mode); "real": they exist in `netns`. */
  bridgeMode: "recorded" | "real";
  netns: string | null;
  /** Namespace mode: the process listening for Wake-on-LAN inside the host's namespace. */
  nic: ProcRef | null;
  libvirtd: ProcRef | null;
  /** The host's agent, when the lab runs one (command resolved, so any process can restart it). */
  agent: ManagedState | null;
  /** Lab power state: "off" after powerOff() until powerOn() or a Wake-on-LAN packet. */
  power: PowerState;
  /** Where a Wake-on-LAN magic packet for `mac` wakes this host (unicast UDP). */
  wake: { address: string; port: number; mac: string };
  /**
   * qemu.conf's migrate_tls_x509_cert_dir (verify on), and whether the lab put certificates there.
   * The agent migrates over TLS and checks this dir (agent config `labHostFile`).
   */
  migrationTls: { certDir: string; certs: boolean };
  /**
   * Runs the lab's "poweroff" for this host (stops agent and libvirtd; exit code 2 while a guest
   * runs). It stops the agent that calls it, so spawn it detached. Power on = Wake-on-LAN to `wake`.
   */
  powerOffCommand: { cmd: string; args: string[]; cwd: string };
}

export type PowerState = "on" | "off";

const HOST_NAME = /^[a-z][a-z0-9-]{0,30}$/;

/**
 * One lab host: a root `libvirtd --listen` on 127.0.<net>.<i>:16509 in its own mount and UTS
 * namespace, with private libvirt dirs under <stateDir>/hosts/<name>. Guests' disks go to
 * <stateDir>/shared, which every host sees at the same path (not a shared FS to libvirt, so
 * migrations need VIR_MIGRATE_UNSAFE). stop() ends libvirtd only: its QEMU guests keep running
 * and the next start() reconnects to them.
 */
export class LabHost {
  readonly name: string;
  readonly index: number;
  readonly net: number;
  readonly address: string;
  readonly uri: string;
  readonly mac: string;
  readonly hostUuid: string;
  readonly migrationPorts: { min: number; max: number };
  readonly dir: string;
  readonly sharedDir: string;
  readonly bridges: readonly string[];
  readonly wolPort: number;
  readonly netns: string | undefined;
  /** Where QEMU finds this host's migration TLS certificates (qemu.conf migrate_tls_x509_cert_dir). */
  readonly migrationTlsDir: string;
  private readonly migrationCaDir: string;
  private migrationCerts: boolean;
  private libvirtd: ProcRef | undefined;
  private nic: ProcRef | undefined;
  private agentProc: ManagedProcess | undefined;
  private powerState: PowerState = "on";
  private starting: Promise<void> | undefined;
  private readonly log: Logger | undefined;

  constructor(opts: LabHostOptions) {
    if (typeof opts.name !== "string" || !HOST_NAME.test(opts.name)) {
      throw badOption("host name", opts.name, "1-31 of [a-z0-9-], starting with a letter");
    }
    if (typeof opts.stateDir !== "string" || opts.stateDir === "" || /['\n]/.test(opts.stateDir)) {
      throw badOption("stateDir", opts.stateDir, "a directory path without quotes or newlines");
    }
    for (const b of opts.bridges ?? []) {
      if (typeof b !== "string" || !/^[A-Za-z0-9_.-]{1,15}$/.test(b)) throw badOption("bridge", b, "an interface name of 1-15 characters");
    }
    this.name = opts.name;
    this.index = opts.index;
    this.net = opts.net ?? 1;
    if (opts.netns && !/^[A-Za-z0-9_.-]{1,64}$/.test(opts.netns.ns)) throw badOption("netns.ns", opts.netns.ns, "a namespace name");
    this.netns = opts.netns?.ns;
    this.address = opts.netns?.address ?? hostAddress(this.net, this.index);
    this.uri = hostUri(this.address);
    this.mac = hostMac(this.net, this.index);
    this.hostUuid = hostUuid(this.net, this.index);
    this.migrationPorts = migrationPorts(this.net, this.index);
    const state = resolve(opts.stateDir);
    this.dir = join(state, "hosts", this.name);
    this.sharedDir = join(state, "shared");
    this.migrationTlsDir = join(this.dir, "pki", "qemu");
    this.migrationCaDir = migrationCaDir(state);
    this.migrationCerts = opts.migrationCerts ?? true;
    this.bridges = [...(opts.bridges ?? [])];
    this.wolPort = opts.wolPort ?? DEFAULT_WOL_PORT;
    if (!Number.isInteger(this.wolPort) || this.wolPort < 1 || this.wolPort > 65535) throw badOption("wolPort", this.wolPort, "a UDP port");
    this.log = opts.logger;
  }

  /** Re-attaches to a host described by lab-host.json (e.g. from `drover lab down`). */
  static fromState(s: LabHostState, logger?: Logger): LabHost {
    const stateDir = resolve(s.dir, "..", "..");
    const h = new LabHost({
      name: s.name,
      index: s.index,
      net: s.net,
      stateDir,
      bridges: s.bridges,
      wolPort: s.wake.port,
      ...(s.netns ? { netns: { ns: s.netns, address: s.address } } : {}),
      migrationCerts: s.migrationTls?.certs ?? true,
      ...(logger ? { logger } : {}),
    });
    h.libvirtd = s.libvirtd ?? undefined;
    h.nic = s.nic ?? undefined;
    h.agentProc = s.agent ? ManagedProcess.fromState(s.agent) : undefined;
    h.powerState = s.power;
    return h;
  }

  static async load(hostDir: string, logger?: Logger): Promise<LabHost> {
    const file = join(hostDir, "lab-host.json");
    const s = JSON.parse(await readFile(file, "utf8")) as LabHostState;
    return LabHost.fromState(s, logger);
  }

  get libvirtdPid(): number | undefined {
    return isAlive(this.libvirtd) ? this.libvirtd?.pid : undefined;
  }

  get running(): boolean {
    return isAlive(this.libvirtd);
  }

  state(): LabHostState {
    return {
      name: this.name,
      index: this.index,
      net: this.net,
      address: this.address,
      uri: this.uri,
      mac: this.mac,
      hostUuid: this.hostUuid,
      migrationPorts: this.migrationPorts,
      dir: this.dir,
      sharedDir: this.sharedDir,
      bridges: [...this.bridges],
      bridgeMode: this.netns ? "real" : "recorded",
      netns: this.netns ?? null,
      nic: isAlive(this.nic) ? (this.nic ?? null) : null,
      // Kept after the process died: recorded but gone is a crash (see crashed()); stop() clears it.
      libvirtd: this.libvirtd ?? null,
      agent: this.agentProc?.state() ?? null,
      power: this.powerState,
      wake: { address: this.address, port: this.wolPort, mac: this.mac },
      migrationTls: { certDir: this.migrationTlsDir, certs: this.migrationCerts },
      powerOffCommand: {
        cmd: process.execPath,
        args: ["--import", "tsx", join(PACKAGE_DIR, "src", "power-cli.ts"), "off", this.dir],
        cwd: PACKAGE_DIR,
      },
    };
  }

  /** Re-reads pids and power state from lab-host.json (another process may have changed them). */
  async refresh(): Promise<void> {
    if (!existsSync(this.stateFile)) return;
    const s = JSON.parse(await readFile(this.stateFile, "utf8")) as LabHostState;
    if (!this.starting) this.libvirtd = s.libvirtd ?? undefined;
    this.nic = s.nic ?? undefined;
    this.agentProc = s.agent ? ManagedProcess.fromState(s.agent) : undefined;
    this.powerState = s.power;
    this.migrationCerts = s.migrationTls?.certs ?? true;
  }

  get power(): PowerState {
    return this.powerState;
  }

  get agent(): ManagedProcess | undefined {
    return this.agentProc;
  }

  /** Sets the command of this host's agent (started by powerOn()/startAgent(), log in <host dir>/agent.log). */
  async setAgent(spec: SpawnSpec): Promise<void> {
    if (this.agentProc?.running) await this.agentProc.stop();
    this.agentProc = new ManagedProcess(`agent-${this.name}`, this.inNetns(spec), join(this.dir, "agent.log"));
    await this.saveState();
  }

  async startAgent(): Promise<void> {
    this.agentProc?.start();
    await this.saveState();
  }

  /** Restarts the agent with the same command line (e.g. after a test killed it). */
  async restartAgent(): Promise<void> {
    if (!this.agentProc) throw new LabError(LabErrorCode.NotFound, `host ${this.name} has no agent command`);
    await this.agentProc.restart();
    await this.saveState();
  }

  async stopAgent(): Promise<void> {
    await this.agentProc?.stop();
    await this.saveState();
  }

  /** SIGKILL to the agent (a crash); it stays down until startAgent() or restartAgent(). */
  async killAgent(): Promise<void> {
    await this.agentProc?.kill();
    await this.saveState();
  }

  /**
   * SIGKILL to libvirtd (a crash): its pid stays recorded, so crashed() is true and the lab's
   * supervision starts it again (RestartSupervisor). QEMU guests keep running.
   */
  async killLibvirtd(): Promise<void> {
    await forget(this.uri);
    await killProc(this.libvirtd);
    await this.saveState();
    this.log?.warn({ host: this.name }, "lab host libvirtd killed");
  }

  /** libvirtd died without being stopped on purpose while the host is on (as lab-host.json says now). */
  async crashed(): Promise<boolean> {
    if (this.starting || !existsSync(this.stateFile)) return false;
    // Read without adopting it: this object may be recording a libvirtd it is starting right now.
    const s = JSON.parse(await readFile(this.stateFile, "utf8")) as LabHostState;
    return s.power === "on" && s.libvirtd !== null && !isAlive(s.libvirtd) && !isAlive(this.libvirtd);
  }

  /**
   * Lab power off: stops the agent and libvirtd. Refused while any QEMU guest runs here
   * (ARCHITECTURE.md, "Invariants": no host powers off with a VM, in the lab too), checked from libvirt's pid files, not libvirtd.
   */
  async powerOff(): Promise<void> {
    const guests = await this.qemuProcs();
    if (guests.length > 0) {
      throw new LabError(LabErrorCode.Busy, `host ${this.name} still runs ${guests.map((g) => g.guest).join(", ")}: not powering off`);
    }
    await this.agentProc?.stop();
    await this.stop();
    this.powerState = "off";
    await this.saveState();
    this.log?.info({ host: this.name }, "lab host powered off");
  }

  /** Lab power on (what a Wake-on-LAN packet triggers): libvirtd, then the agent. */
  async powerOn(): Promise<void> {
    await this.start();
    this.agentProc?.start();
    this.powerState = "on";
    await this.saveState();
    this.log?.info({ host: this.name }, "lab host powered on");
  }

  /** Real path of a file that this host's libvirtd/QEMU see at `nsPath` (e.g. /var/log/libvirt/qemu/g1.serial). */
  hostPath(nsPath: string): string {
    for (const [inside, sub] of Object.entries(PRIVATE_DIRS)) {
      if (nsPath === inside || nsPath.startsWith(`${inside}/`)) return join(this.dir, sub, nsPath.slice(inside.length));
    }
    return nsPath;
  }

  /** Where a guest's serial console goes, as QEMU on this host sees it. Per host: proves where it runs. */
  static serialNsPath(guest: string): string {
    return `/var/log/libvirt/qemu/${guest}.serial`;
  }

  /** Real path of a guest's serial file on this host (read it with readTicks). */
  serialFile(guest: string): string {
    return this.hostPath(LabHost.serialNsPath(guest));
  }

  /** Starts libvirtd (no-op when it already runs) and waits until it answers on its TCP URI. */
  async start(timeoutMs = 60_000): Promise<void> {
    // Concurrent starts in one process (a wake, the supervisor, a test) share one libvirtd.
    this.starting ??= this.startLibvirtd(timeoutMs).finally(() => (this.starting = undefined));
    return this.starting;
  }

  private async startLibvirtd(timeoutMs: number): Promise<void> {
    if (isAlive(this.libvirtd)) return;
    const phase = phaseTimer(this.log, `lab host ${this.name} libvirtd start`);
    for (const sub of Object.values(PRIVATE_DIRS)) await mkdir(join(this.dir, sub), { recursive: true });
    await mkdir(join(this.dir, "log", "qemu"), { recursive: true });
    await mkdir(this.sharedDir, { recursive: true });
    // libvirtd refuses a qemu.conf whose cert dir does not exist, certificates or not.
    await mkdir(this.migrationTlsDir, { recursive: true });
    if (this.migrationCerts) await this.writeMigrationCerts();
    phase("migration certificates");
    // Bind-mount targets must exist in the root namespace; empty dirs, nothing else is touched there.
    for (const inside of Object.keys(PRIVATE_DIRS)) await mkdir(inside, { recursive: true });
    const conf = {
      address: this.address,
      hostUuid: this.hostUuid,
      migrationPortMin: this.migrationPorts.min,
      migrationPortMax: this.migrationPorts.max,
      libvirtdPort: LIBVIRTD_PORT,
      migrationTlsDir: this.migrationTlsDir,
    };
    await seedQemuCaps(join(this.dir, "cache", "qemu", "capabilities"));
    await writeFile(join(this.dir, "etc", "libvirtd.conf"), libvirtdConf(conf));
    await writeFile(join(this.dir, "etc", "qemu.conf"), qemuConf(conf));
    const mounts = Object.entries(PRIVATE_DIRS)
      .map(([inside, sub]) => `mount --bind '${join(this.dir, sub)}' '${inside}'`)
      .join(" && ");
    const script = `set -e; ${mounts}; hostname '${this.name}'; exec libvirtd --listen --pid-file '${join(this.dir, "libvirtd.pid")}' --config /etc/libvirt/libvirtd.conf`;
    const logFile = join(this.dir, "libvirtd.log");
    // --propagation private: our bind mounts never leak into the root namespace.
    const ref = spawnDetached(
      this.inNetns({ cmd: "unshare", args: ["--mount", "--uts", "--propagation", "private", "sh", "-c", script] }),
      logFile,
    );
    this.libvirtd = ref;
    await this.saveState();
    phase("spawned");
    try {
      await waitFor(
        `libvirtd of ${this.name} on ${this.address}:${LIBVIRTD_PORT}`,
        async () => {
          if (!isAlive(ref)) {
            throw new LabError(LabErrorCode.StartFailed, `libvirtd of ${this.name} exited: ${tail(logFile)}`);
          }
          return (await canConnect(this.address, LIBVIRTD_PORT)) ? true : undefined;
        },
        timeoutMs,
      );
      phase("listening");
      // A libvirt call can hang on a peer that accepts but never answers: race it with the
      // process and the clock.
      const deadline = Date.now() + timeoutMs;
      let pinged = false;
      const call = ping(this.uri).finally(() => (pinged = true));
      call.catch(() => undefined);
      await Promise.race([
        call,
        waitFor(
          `libvirtd of ${this.name} to answer on ${this.uri}`,
          () => {
            if (pinged) return true;
            if (!isAlive(ref)) throw new LabError(LabErrorCode.StartFailed, `libvirtd of ${this.name} exited: ${tail(logFile)}`);
            return undefined;
          },
          Math.max(1000, deadline - Date.now()),
        ),
      ]);
    } catch (e) {
      await stopProc(ref);
      this.libvirtd = undefined;
      await this.saveState();
      throw e;
    }
    phase("answering");
    // Only a seed for later hosts: not worth failing a started host for.
    await saveQemuCaps(join(this.dir, "cache", "qemu", "capabilities")).catch((e: unknown) =>
      this.log?.warn({ host: this.name, err: e }, "could not keep the QEMU capabilities seed"),
    );
    this.log?.info({ host: this.name, pid: ref.pid, uri: this.uri }, "lab host started");
  }

  /**
   * Puts the lab CA's migration certificates into this host's cert dir (a host started with
   * `migrationCerts: false` gets them now). QEMU reads them at each migration: no restart needed.
   */
  async installMigrationCerts(): Promise<void> {
    this.migrationCerts = true;
    await this.writeMigrationCerts();
    await this.saveState();
  }

  private writeMigrationCerts(): Promise<void> {
    return issueMigrationCerts(this.migrationCaDir, this.migrationTlsDir, { name: this.name, address: this.address });
  }

  /** Stops libvirtd (SIGTERM by pid). QEMU guests keep running; start() picks them up again. */
  async stop(): Promise<void> {
    const ref = this.libvirtd;
    await forget(this.uri);
    await stopProc(ref);
    this.libvirtd = undefined;
    await this.saveState();
    if (ref) this.log?.info({ host: this.name, pid: ref.pid, at: Date.now() }, "lab host libvirtd stopped");
  }

  /** The command run inside this host's network namespace (unchanged in loopback mode). */
  inNetns(spec: SpawnSpec): SpawnSpec {
    if (!this.netns) return spec;
    return { ...spec, cmd: "nsenter", args: [`--net=/run/netns/${this.netns}`, "--", spec.cmd, ...spec.args] };
  }

  /** Namespace mode: starts the Wake-on-LAN listener process inside the host's namespace. */
  async startNic(): Promise<void> {
    if (!this.netns || isAlive(this.nic)) return;
    const nicMain = join(PACKAGE_DIR, "src", "nic-main.ts");
    const spec = this.inNetns({ cmd: process.execPath, args: ["--import", "tsx", nicMain, this.dir], cwd: PACKAGE_DIR });
    const logFile = join(this.dir, "nic.log");
    const from = existsSync(logFile) ? readFileSync(logFile).length : 0;
    this.nic = spawnDetached(spec, logFile);
    await this.saveState();
    // The listener is up once it says so; a bind error ends the process.
    await waitFor(
      `Wake-on-LAN listener of ${this.name}`,
      () => {
        if (!isAlive(this.nic)) throw new LabError(LabErrorCode.StartFailed, `NIC process of ${this.name} exited: ${tail(logFile)}`);
        return existsSync(logFile) && readFileSync(logFile).subarray(from).includes("listening") ? true : undefined;
      },
      60_000,
    );
  }

  async stopNic(): Promise<void> {
    await stopProc(this.nic);
    this.nic = undefined;
    await this.saveState();
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Pids of the QEMU processes of this host, from libvirt's pid files (alive ones only). */
  async qemuProcs(): Promise<Array<{ guest: string; proc: ProcRef }>> {
    const dir = join(this.dir, "run", "qemu");
    if (!existsSync(dir)) return [];
    const out: Array<{ guest: string; proc: ProcRef }> = [];
    for (const f of await readdir(dir)) {
      if (!f.endsWith(".pid")) continue;
      const pid = Number((await readFile(join(dir, f), "utf8")).trim());
      const ref = Number.isInteger(pid) && pid > 0 ? procRef(pid) : undefined;
      if (ref && isQemu(pid)) out.push({ guest: f.slice(0, -4), proc: ref });
    }
    return out;
  }

  /** The guests this host's libvirtd keeps a definition of (running or shut off): a guest moved away leaves none. */
  definedGuests(): Promise<string[]> {
    return definedDomains(this.uri);
  }

  /** Written atomically: other processes (`drover lab down`, a power command) read it any time. */
  async saveState(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const file = join(this.dir, "lab-host.json");
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(this.state(), null, 2)}\n`);
    await rename(tmp, file);
  }

  get stateFile(): string {
    return join(this.dir, "lab-host.json");
  }
}

/**
 * libvirtd probes QEMU's capabilities on first use, 4 s idle and 15 s on a loaded 2-core box, per
 * host. Every lab host runs the same binaries on the same machine, so one probe result serves all:
 * it is kept in <image cache>/qemu-caps and copied into each fresh host. libvirt still validates
 * each file (binary and daemon ctimes, kernel, microcode) and probes again when anything changed.
 */
async function seedQemuCaps(hostCapsDir: string): Promise<void> {
  const shared = join(cacheDir(), "qemu-caps");
  if (!existsSync(shared)) return;
  await mkdir(hostCapsDir, { recursive: true });
  if ((await readdir(hostCapsDir)).length > 0) return;
  for (const f of await readdir(shared)) {
    if (f.endsWith(".xml")) await copyFile(join(shared, f), join(hostCapsDir, f));
  }
}

/**
 * Keeps what this host's libvirtd probed as the seed for the next hosts. A file that differs from
 * the seed under its name replaces it: libvirt probed again because the seed went stale (e.g. an
 * upgrade touched QEMU's module dir), and a stale seed kept would cost every later host the probe.
 */
async function saveQemuCaps(hostCapsDir: string): Promise<void> {
  const shared = join(cacheDir(), "qemu-caps");
  if (!existsSync(hostCapsDir)) return;
  for (const f of (await readdir(hostCapsDir)).filter((x) => x.endsWith(".xml"))) {
    const probed = await readFile(join(hostCapsDir, f));
    const seed = existsSync(join(shared, f)) ? await readFile(join(shared, f)) : undefined;
    if (seed?.equals(probed)) continue;
    await mkdir(shared, { recursive: true });
    // Hosts starting together in one process save at the same time: a temp name of its own each.
    const tmp = join(shared, `.${f}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
    await writeFile(tmp, probed, { mode: 0o600 });
    await rename(tmp, join(shared, f));
  }
}

function isQemu(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").startsWith("qemu");
  } catch {
    return false;
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, "utf8").trim().split("\n").slice(-5).join(" | ");
  } catch {
    return "(no log)";
  }
}
