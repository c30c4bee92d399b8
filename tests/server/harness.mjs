// Starts the real `smallthinker serve` on a free loopback port for the server tests and stops
// it afterwards. The model is the shipped SmallThinker-Nano (tokenizer + ChatML template).
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const sourceDir = process.env.ST_SOURCE_DIR ?? path.join(here, "../..");
export const stBin = process.env.ST_BIN ?? path.join(sourceDir, "build/bin/smallthinker");
export const nanoModel = path.join(sourceDir, "models/smallthinker-nano.gguf");

export function die(message) {
  console.error(`FAIL: ${message}`);
  process.exit(1);
}

// Throws (rather than exiting) so that withServer can still stop the server.
export function check(ok, message) {
  if (!ok) throw new Error(message);
}

// Servers still running when the process exits (a failed check outside withServer) are killed.
const running = new Set();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

// Resolves to { url, port, pid, stop(), log() } once the server prints its address.
export async function startServer(extraArgs = [], { model = nanoModel, timeoutMs = 60000 } = {}) {
  check(fs.existsSync(stBin), `${stBin} is missing: build the smallthinker binary first (or set ST_BIN)`);
  check(fs.existsSync(model), `${model} is missing`);
  const child = spawn(stBin, ["serve", "-m", model, "--port", "0", "-t", "2", ...extraArgs], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  running.add(child);
  child.on("exit", () => running.delete(child));
  let stderr = "";
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within ${timeoutMs} ms:\n${stderr}`)), timeoutMs);
    child.stderr.on("data", (d) => {
      stderr += d.toString();
      const m = stderr.match(/listening on http:\/\/[^:]+:(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited (code ${code}, signal ${signal}) before listening:\n${stderr}`));
    });
  });
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid,
    log: () => stderr,
    // SIGTERM, then the exit status: a clean shutdown exits with 0.
    async stop() {
      child.kill("SIGTERM");
      let timer;
      const timeout = new Promise((resolve) => (timer = setTimeout(() => resolve(null), 20000)));
      const r = await Promise.race([exited, timeout]);
      clearTimeout(timer);
      if (r === null) {
        child.kill("SIGKILL");
        die(`server did not stop within 20 s of SIGTERM:\n${stderr}`);
      }
      return r;
    },
  };
}

// VmRSS of a process in bytes.
export function rssBytes(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const m = status.match(/^VmRSS:\s+(\d+) kB/m);
  check(m, `no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

// Prometheus text -> { name: value }.
export async function metrics(url, key) {
  const res = await fetch(`${url}/metrics`, { headers: key ? { Authorization: `Bearer ${key}` } : {} });
  check(res.status === 200, `/metrics answered ${res.status}`);
  const out = {};
  for (const line of (await res.text()).split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const [name, value] = line.split(" ");
    out[name] = Number(value);
  }
  return out;
}

// Runs the test body with a server; stops it whatever happens and fails on an exception.
export async function withServer(args, body, options) {
  const server = await startServer(args, options);
  let failed = null;
  try {
    await body(server);
  } catch (e) {
    failed = e;
  }
  const r = await server.stop();
  if (failed) die(`${failed.stack ?? failed}\n--- server log ---\n${server.log()}`);
  check(r.code === 0, `server exited with ${JSON.stringify(r)} after SIGTERM:\n${server.log()}`);
}

// The CLI's greedy `run --chat` reply to `prompt` (n tokens, final newline dropped): the
// servers' oracle, reached through a different code path (Session::generate).
export function cliGreedyChat(prompt, n) {
  const out = execFileSync(stBin, ["run", "-m", nanoModel, "--chat", "-p", prompt, "--temp", "0", "-n", String(n), "-t", "2"], {
    stdio: ["ignore", "pipe", "ignore"],
  }).toString();
  return out.endsWith("\n") ? out.slice(0, -1) : out;
}
