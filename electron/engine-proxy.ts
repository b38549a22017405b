// The engine as the main process sees it: a utilityProcess running engine-host.js, spoken to
// through EngineChannelClient. Restarts the process with backoff if it dies on its own.
import { utilityProcess, type UtilityProcess } from 'electron';
import { EngineChannelClient, type ChannelPort } from './engine-channel.js';
import { RestartableEndpoint } from './restartable-endpoint.js';

export interface EngineProxyOptions {
  hostPath: string;
  dataDir: string;
  /** Extra environment for the engine process (the keychain secret). */
  env?: Record<string, string>;
  /** Called with each started engine (to load its state) and with undefined when it goes away. */
  onEngine(client: EngineChannelClient | undefined): void;
}

function channelPortOf(child: UtilityProcess): ChannelPort {
  return {
    postMessage: (message) => child.postMessage(message),
    on: (_event, listener) => child.on('message', listener),
    off: (_event, listener) => child.off('message', listener),
  };
}

export class EngineProxy {
  /** What the window's IPC binding serves; it survives engine restarts. */
  readonly endpoint = new RestartableEndpoint();
  private child?: UtilityProcess;
  private client?: EngineChannelClient;
  private stopping = false;
  private restarts = 0;
  private restartTimer?: NodeJS.Timeout;

  constructor(private readonly options: EngineProxyOptions) {}

  start(): void {
    const child = utilityProcess.fork(this.options.hostPath, ['--data-dir', this.options.dataDir], {
      serviceName: 'Peerdial engine',
      stdio: 'inherit',
      ...(this.options.env ? { env: { ...process.env, ...this.options.env } } : {}),
    });
    const client = new EngineChannelClient(channelPortOf(child));
    this.child = child;
    this.client = client;
    this.endpoint.attach(client);
    client.ready.then(
      () => {
        this.restarts = 0;
        this.options.onEngine(client);
      },
      (error: Error) => process.stderr.write(`peerdial: the engine did not start: ${error.message}\n`),
    );
    child.once('exit', (code) => {
      client.close(`The Peerdial engine stopped (exit code ${code}).`);
      if (this.child !== child) return;
      this.child = undefined;
      this.client = undefined;
      this.endpoint.detach();
      this.options.onEngine(undefined);
      if (this.stopping) return;
      const delay = Math.min(30_000, 1_000 * 2 ** this.restarts++);
      process.stderr.write(`peerdial: the engine stopped unexpectedly (exit code ${code}); restarting in ${delay / 1000} s.\n`);
      this.restartTimer = setTimeout(() => this.start(), delay);
    });
  }

  /** Stops the engine cleanly when it can, and for sure within `timeoutMs`. */
  async stop(timeoutMs = 2_000): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    const client = this.client;
    if (!child || !client) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + timeoutMs;
    const clean = await client.stop(Math.max(0, timeoutMs - 200));
    if (!clean) child.kill();
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, Math.max(0, deadline - Date.now())))]);
    if (this.child === child) child.kill();
  }
}
