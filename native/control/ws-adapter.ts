// The control API over WebSocket for browser mode. Only a client that presents the token
// kept in the data dir, from our own page's Origin, gets in (a page elsewhere in the user's
// browser must not drive their phone).
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { AUDIO_FRAME_BYTES, WS_PATH, type AudioEndpoint, type ControlEndpoint, type WsClientFrame, type WsServerFrame } from './api.js';
import { bytesOfFrame, frameFromBytes } from './audio-frames.js';
import { envelope } from './control-api.js';

export interface WsControlOptions {
  endpoint: ControlEndpoint;
  token: string;
  /** The Origins our own page is served from (e.g. http://127.0.0.1:PORT). */
  allowedOrigins(): string[];
  maxFrameBytes?: number;
  /** The calls' microphone and speaker; without it, audio frames are dropped. */
  audio?: AudioEndpoint;
}

/** Speaker frames waiting in one client's socket beyond this (about 200 ms) are dropped: late audio is useless. */
const SPEAKER_BACKLOG_BYTES = 10 * AUDIO_FRAME_BYTES;

export class WsControlAdapter {
  private readonly wss: WebSocketServer;
  rejected = 0;
  /** Microphone frames dropped for their size (or because no audio endpoint is attached). */
  microphoneFramesDropped = 0;
  /** Speaker frames not sent because the client's socket was backed up. */
  speakerFramesDropped = 0;

  constructor(private readonly options: WsControlOptions) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: options.maxFrameBytes ?? 256 * 1024 });
    this.wss.on('connection', (ws) => this.serve(ws));
  }

  /** For the HTTP server's 'upgrade' event. Returns false when the request is not ours. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (url.pathname !== WS_PATH) return false;
    const origin = request.headers.origin;
    const denied = !tokensEqual(url.searchParams.get('token') ?? '', this.options.token)
      ? '401 Unauthorized'
      : origin !== undefined && !this.options.allowedOrigins().includes(origin)
        ? '403 Forbidden'
        : undefined;
    if (denied) {
      this.rejected++;
      socket.end(`HTTP/1.1 ${denied}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return true;
    }
    this.wss.handleUpgrade(request, socket, head, (ws) => this.wss.emit('connection', ws, request));
    return true;
  }

  close(): void {
    for (const ws of this.wss.clients) ws.close(1001, 'engine stopping');
    this.wss.close();
  }

  private serve(ws: WebSocket): void {
    let unsubscribe: (() => void) | undefined;
    let stopSpeaker: (() => void) | undefined;
    const send = (frame: WsServerFrame) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame));
    };
    const sendSpeaker = (frame: Int16Array) => {
      if (ws.readyState !== ws.OPEN) return;
      if (ws.bufferedAmount > SPEAKER_BACKLOG_BYTES) {
        this.speakerFramesDropped++;
        return;
      }
      ws.send(bytesOfFrame(frame), { binary: true });
    };
    const stopAll = () => {
      unsubscribe?.();
      stopSpeaker?.();
      stopSpeaker = undefined;
    };
    ws.on('message', async (data, isBinary) => {
      if (isBinary) {
        const frame = this.options.audio && frameFromBytes(data);
        if (frame) this.options.audio!.pushMicrophone(frame);
        else this.microphoneFramesDropped++;
        return;
      }
      let frame: WsClientFrame;
      try {
        frame = JSON.parse(String(data)) as WsClientFrame;
      } catch {
        ws.close(1003, 'frames must be JSON');
        return;
      }
      if (frame?.kind === 'subscribe') {
        unsubscribe?.();
        unsubscribe = this.options.endpoint.subscribe(frame.since, (item) => send({ kind: 'event', item }));
      } else if (frame?.kind === 'invoke' && typeof frame.id === 'number') {
        send({ kind: 'result', id: frame.id, envelope: await envelope(() => this.options.endpoint.invoke(frame.name, frame.params as never)) });
      } else if (frame?.kind === 'audio' && typeof frame.speaker === 'boolean') {
        stopSpeaker?.();
        stopSpeaker = frame.speaker ? this.options.audio?.onSpeaker(sendSpeaker) : undefined;
      } else {
        ws.close(1008, 'unknown frame');
      }
    });
    ws.on('close', stopAll);
    ws.on('error', stopAll);
  }
}

function tokensEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
