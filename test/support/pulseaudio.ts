// A private PulseAudio sound server that is a room with a loudspeaker and a microphone in it: a
// null sink ("room") takes whatever is played, and a source remapped from the sink's monitor
// ("room-microphone", the default source) hears all of it. A browser pointed at it (PULSE_SERVER)
// plays a call's audio into the room and picks it up again, as a laptop's microphone picks up its
// own speakers: the echo an echo canceller is there to remove.
//
// Chromium lists no monitor source as a microphone (it takes them for loopbacks of its own
// output), hence the remap. The daemon runs as a user daemon of whoever runs the test (as root it
// warns and carries on), with its own runtime, state and home dirs and no default.pa, so it never
// touches a desktop's sound server; it runs under `timeout`, so a crashed test cannot leave it
// behind, and stop() ends it and removes its directory.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export const ROOM_SINK = 'room';
export const ROOM_MICROPHONE = 'room-microphone';
/** The sink's rate: the browser's AudioContext and capture run at 48 kHz, as the engine does. */
const ROOM_RATE = 48_000;

export const PULSEAUDIO_HINT = 'run `sudo bash scripts/install-test-deps.sh` (it installs pulseaudio and pulseaudio-utils)';

export interface SoundRoom {
  /** PULSE_SERVER for clients (the browser, paplay). */
  server: string;
  /** This process's environment with PULSE_SERVER set: for the room's clients. */
  env: NodeJS.ProcessEnv;
  /** Plays a WAV into the room (someone in it speaking) and resolves when it has been played. */
  play(wav: string): Promise<void>;
  /** What the daemon logged so far. */
  log(): string;
  stop(): Promise<void>;
}

/** Throws a sentence that says how to install PulseAudio when it is missing. */
export function requirePulseAudio(): void {
  for (const tool of ['pulseaudio', 'pactl', 'paplay']) {
    const probe = spawnSync(tool, ['--version'], { encoding: 'utf8' });
    if (probe.error || probe.status !== 0) throw new Error(`${tool} is not installed or does not run: ${PULSEAUDIO_HINT}`);
  }
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

export async function startSoundRoom(deadlineSeconds = 600): Promise<SoundRoom> {
  requirePulseAudio();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-pulse-'));
  const runtime = path.join(dir, 'runtime');
  const home = path.join(dir, 'home');
  await mkdir(runtime);
  await mkdir(home);
  // PulseAudio refuses a runtime dir that others may enter.
  await chmod(runtime, 0o700);
  const socket = path.join(dir, 'native');
  const server = `unix:${socket}`;
  const env: NodeJS.ProcessEnv = { ...process.env, PULSE_SERVER: server };
  const daemonEnv: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    XDG_RUNTIME_DIR: runtime,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    PULSE_RUNTIME_PATH: runtime,
    PULSE_STATE_PATH: path.join(home, 'state'),
  };
  // No session bus: it would announce the daemon to a desktop's.
  delete daemonEnv.DBUS_SESSION_BUS_ADDRESS;
  const child = spawn('timeout', ['-k', '5', String(deadlineSeconds), 'pulseaudio',
    '-n', // no default.pa: only the modules below
    '--daemonize=no', '--exit-idle-time=-1', '--use-pid-file=no', '--realtime=no', '--high-priority=no',
    '--disable-shm=yes', '--log-target=stderr', '--log-level=info',
    '-L', `module-native-protocol-unix socket=${socket} auth-anonymous=1`,
    '-L', `module-null-sink sink_name=${ROOM_SINK} rate=${ROOM_RATE} channels=1`,
    '-L', `module-remap-source master=${ROOM_SINK}.monitor source_name=${ROOM_MICROPHONE} channels=1`,
  ], { stdio: ['ignore', 'pipe', 'pipe'], env: daemonEnv });
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited(child);
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`pulseaudio did not start within 15 s:\n${log}`)), 15_000);
      const check = () => {
        if (!/Daemon startup complete/.test(log)) return;
        clearTimeout(timer);
        resolve();
      };
      child.stderr!.on('data', check);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`pulseaudio exited with ${code} before it was ready (${PULSEAUDIO_HINT}):\n${log}`));
      });
    });
    const pactl = spawnSync('pactl', ['set-default-source', ROOM_MICROPHONE], { env, encoding: 'utf8' });
    if (pactl.status !== 0) throw new Error(`pactl set-default-source failed: ${pactl.stderr ?? pactl.error}`);
    const sink = spawnSync('pactl', ['set-default-sink', ROOM_SINK], { env, encoding: 'utf8' });
    if (sink.status !== 0) throw new Error(`pactl set-default-sink failed: ${sink.stderr ?? sink.error}`);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    server,
    env,
    log: () => log,
    stop,
    async play(wav: string) {
      const player = spawn('paplay', [`--device=${ROOM_SINK}`, wav], { stdio: ['ignore', 'ignore', 'pipe'], env });
      let stderr = '';
      player.stderr!.on('data', (d) => (stderr += d));
      const code = await exited(player);
      if (code !== 0) throw new Error(`paplay ${wav} exited with ${code}: ${stderr}`);
    },
  };
}
