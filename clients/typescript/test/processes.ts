/**
 * The repository's Python side, for the tests: the real server (`latent serve` on a free loopback
 * port) and the Python SDK, both run with the repository's `.venv` (or `LATENTSPACE_PYTHON`).
 */

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root: the nearest folder above this file that holds proto/. */
export const REPO = (() => {
  let folder = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(folder, "proto", "latentspace"))) {
    const parent = dirname(folder);
    if (parent === folder) throw new Error("cannot find the repository root (a folder with proto/) above the tests");
    folder = parent;
  }
  return folder;
})();

export const PYTHON = process.env.LATENTSPACE_PYTHON ?? join(REPO, ".venv", "bin", "python");

/** The environment of Python children: offline, unbuffered, importable from the checkout. */
export function pythonEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("LATENTSPACE_")));
  return {
    ...env,
    PYTHONUNBUFFERED: "1",
    HF_HUB_OFFLINE: "1",
    LATENTSPACE_ALLOW_DOWNLOAD: "0",
    PYTHONPATH: ["indexer", "server", "cli", "clients/python"].map((p) => resolve(REPO, p)).join(":"),
  };
}

/** Run a Python module from the repository root; resolves with its stdout. */
export function runPython(args: string[], options: { timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      PYTHON,
      args,
      { cwd: REPO, env: pythonEnv(), maxBuffer: 256 * 1024 * 1024, timeout: options.timeoutMs ?? 300_000 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${PYTHON} ${args.join(" ")} failed: ${error.message}\n${stderr}`));
        else resolvePromise(stdout);
      },
    );
  });
}

/** `latent serve` over a fresh data dir, on a free loopback port (`args`: more `latent serve` flags). */
export class ServerProcess {
  private constructor(
    readonly address: string,
    private readonly child: ChildProcess,
    private readonly dataDir: string,
    readonly output: string[],
  ) {}

  static async start(args: readonly string[] = []): Promise<ServerProcess> {
    const dataDir = await mkdtemp(join(tmpdir(), "latentspace-ts-"));
    const child = spawn(
      PYTHON,
      [
        ...["-m", "latentspace.cli.main", "serve", "--data", dataDir, "--host", "127.0.0.1", "--port", "0"],
        ...["--device", "cpu", "--no-download", ...args],
      ],
      { cwd: REPO, env: pythonEnv(), stdio: ["ignore", "pipe", "pipe"] },
    );
    const output: string[] = [];
    const port = await new Promise<number>((resolvePort, reject) => {
      // A bound on start-up, not an assertion: a server that never says it is serving fails the tests.
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`server did not start:\n${output.join("")}`));
      }, 120_000);
      const read = (chunk: Buffer) => {
        output.push(chunk.toString());
        const match = /serving .* on 127\.0\.0\.1:(\d+)/.exec(output.join(""));
        if (match) {
          clearTimeout(timer);
          resolvePort(Number(match[1]));
        }
      };
      child.stdout!.on("data", read);
      child.stderr!.on("data", read);
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`server exited with ${code}:\n${output.join("")}`));
      });
    });
    return new ServerProcess(`127.0.0.1:${port}`, child, dataDir, output);
  }

  /** SIGTERM, wait for the exit, remove the data dir. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((done) => this.child.once("exit", done));
      this.child.kill("SIGTERM");
      const killer = setTimeout(() => this.child.kill("SIGKILL"), 30_000); // a bound, not an assertion
      await exited;
      clearTimeout(killer);
    }
    await rm(this.dataDir, { recursive: true, force: true });
  }
}
