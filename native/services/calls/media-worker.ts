// A media worker thread: its own 20 ms media clock, the calls the pool gave it (media-core.ts),
// their UDP sockets, codecs (its own libopus instance) and SRTP. Nothing on the main thread
// (the overlay, sqlite, the UI, ICE and DTLS handshakes) runs here, so none of it can make a
// packet late. What it tells the main thread in one turn of its event loop goes as one message.
import { parentPort } from 'node:worker_threads';
import type { Logger } from '../../log.js';
import { MediaClock } from '../../transport/media-clock.js';
import { RtpSocketPair } from '../../transport/rtp-socket.js';
import { MediaCore } from './media-core.js';
import { asBuffer, type FromWorker, type ToWorker } from './media-worker-protocol.js';

const port = parentPort!;
// Four 5 ms lanes: each call sends once per 20 ms in its lane, so calls do not all burst at once.
const clock = new MediaClock({ lanes: 4 });
const cores = new Map<number, MediaCore>();
const debug = process.env.PEERDIAL_LOG === 'debug';

let outbox: FromWorker[] = [];
let transfers: ArrayBuffer[] = [];

function emit(message: FromWorker, transfer?: ArrayBuffer[]): void {
  outbox.push(message);
  if (transfer) transfers.push(...transfer);
  if (outbox.length === 1) queueMicrotask(flush);
}

function flush(): void {
  const batch = outbox;
  const moved = transfers;
  outbox = [];
  transfers = [];
  port.postMessage(batch, moved);
}

/** Log lines go to the call's logger on the main thread; debug ones only when debugging is on. */
function loggerFor(id: number): Logger {
  const send = (level: 'debug' | 'info' | 'warn' | 'error') => (message: string, fields?: Record<string, unknown>) => {
    if (level === 'debug' && !debug) return;
    emit({ t: 'log', id, level, message, fields });
  };
  const logger: Logger = { debug: send('debug'), info: send('info'), warn: send('warn'), error: send('error'), child: () => logger };
  return logger;
}

async function open(message: Extract<ToWorker, { t: 'open' }>): Promise<void> {
  const { id } = message;
  const log = loggerFor(id);
  // Datagrams are delivered by later event-loop turns, so the core exists before the first one.
  const route: { to?: MediaCore } = {};
  try {
    const sockets = await RtpSocketPair.open({
      bind: message.bind,
      portRange: message.portRange,
      onRtp: (datagram, from) => route.to?.receiveOnRtpPort(datagram, from, false),
      onRtcp: (datagram, from, arrival) => (arrival === 'rtp-port' ? route.to?.receiveOnRtpPort(datagram, from, true) : route.to?.receiveRtcp(datagram, from, arrival)),
      onError: (error) => log.warn('RTP socket failed', { error: error.message }),
    });
    route.to = new MediaCore({
      id,
      clock,
      log,
      sockets,
      stats: new Float64Array(message.stats),
      silenceTimeoutMs: message.silenceTimeoutMs,
      rtcpIntervalMs: message.rtcpIntervalMs,
      probe: message.probe,
      emit,
    });
    cores.set(id, route.to);
    emit({ t: 'opened', id, port: sockets.port });
  } catch (error) {
    emit({ t: 'open-failed', id, message: (error as Error).message, code: (error as { code?: string }).code });
  }
}

function handle(message: ToWorker): void {
  if (message.t === 'open') {
    void open(message);
    return;
  }
  if (message.t === 'clock-stats') {
    emit({ t: 'clock-stats', stats: clock.stats });
    if (message.reset) clock.resetStats();
    return;
  }
  const core = cores.get(message.id);
  if (!core) return;
  switch (message.t) {
    case 'configure':
      core.configure(message.negotiated, message.opusComplexity);
      break;
    case 'secure':
      core.secure(message.keys);
      break;
    case 'gate':
      core.setGate(message.gate);
      core.rtcpOff = message.rtcpOff;
      break;
    case 'route':
      core.setRoute(message.route);
      break;
    case 'mute':
      core.muted = message.muted;
      break;
    case 'source':
      if (message.kind === 'repeat') core.setSource('repeat', message.spec);
      else core.setSource(message.kind);
      break;
    case 'sink':
      core.setSink(message.on);
      break;
    case 'frame':
      core.framePulled(message.pcm);
      break;
    case 'dtmf':
      core.sendDtmf(message.job, message.digits);
      break;
    case 'media':
      core.receiveMedia(asBuffer(message.datagram), message.from);
      break;
    case 'send':
      core.sendFromSocket(asBuffer(message.bytes), message.to);
      break;
    case 'stop':
      void core.stop().then(() => emit({ t: 'stopped', id: message.id }));
      break;
    case 'close':
      cores.delete(message.id);
      void core.close().then(() => emit({ t: 'closed', id: message.id }));
      break;
  }
}

port.on('message', (messages: ToWorker[]) => {
  for (const message of messages) {
    try {
      handle(message);
    } catch (error) {
      // One call's bug must not take the other calls of this worker down.
      emit({ t: 'log', id: 'id' in message ? message.id : -1, level: 'error', message: 'media worker failed on a message', fields: { kind: message.t, error: String(error) } });
    }
  }
});
