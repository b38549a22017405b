// The control API's implementation: checks each command's parameters, calls the services,
// and turns every failure into a ControlError with a stable code.
import type { IdentityService } from '../services/identity/index.js';
import type { ImService, VoicemailService } from '../services/im/index.js';
import type { DhtService } from '../services/dht/index.js';
import type { OverlayService } from '../services/overlay/index.js';
import type { CallService } from '../services/calls/index.js';
import type { BuddyService, PresenceService } from '../services/presence/index.js';
import type { ConfigOfferService, SharedConfig } from '../services/lan/index.js';
import type { NatService, RelaySettings, RelayView } from '../services/nat/index.js';
import type { RescueServer, RescueSettings } from '../services/rescue/index.js';
import type { PhonesService } from '../services/phones/index.js';
import type { StrangersService } from '../services/strangers/index.js';
import { overlayStatusView } from './overlay-view.js';
import { UserError } from '../services/errors.js';
import {
  ControlError,
  type CommandName,
  type Envelope,
  type Commands,
  type ControlEndpoint,
  type NodeStatus,
  type ParamsOf,
  type ResultOf,
  type StrangerCalls,
  type StreamItem,
} from './api.js';
import { EventLog } from './event-log.js';

export interface ControlServices {
  identity: IdentityService;
  im: ImService;
  overlay: OverlayService;
  calls: CallService;
  buddies: BuddyService;
  presence: PresenceService;
  /** LAN peers and configuration offers. */
  lan: ConfigOfferService;
  /** "Help rescue sites". */
  rescue: RescueServer;
  /** Public address, NAT behaviour, STUN server. */
  nat: NatService;
  /** "Relay calls for others", and the relay finder. */
  relay: { view(): RelayView; configure(change: Partial<RelaySettings>): Promise<RelayView> };
  /** The user's SIP phones (registrar and proxy). */
  phones: PhonesService;
  voicemail: VoicemailService;
  dht: DhtService;
  /** Message requests, blocks, and the settings for strangers. */
  strangers: StrangersService;
  status(): NodeStatus;
}

type Handlers = { [N in CommandName]: (params: Record<string, unknown>) => Promise<Commands[N]['result']> };

export class ControlApi implements ControlEndpoint {
  readonly events: EventLog;
  private readonly handlers: Handlers;

  constructor(services: ControlServices, events = new EventLog()) {
    this.events = events;
    this.handlers = {
      'identity.get': async () => (await services.identity.load()) ?? null,
      'identity.create': async (p) => services.identity.create(text(p, 'displayName'), text(p, 'userName')),
      'identity.export': async (p) => {
        const identity = await services.identity.load();
        return { fileName: `peerdial-identity-${identity?.userName ?? 'backup'}.json`, backup: services.identity.exportBackup(text(p, 'passphrase')) };
      },
      'identity.import': async (p) => services.identity.importBackup(text(p, 'backup'), text(p, 'passphrase')),
      'node.status': async () => services.status(),
      'im.send': async (p) => services.im.send(text(p, 'to'), text(p, 'text')),
      'im.conversations': async () => services.im.conversations(),
      'im.history': async (p) =>
        services.im.history(text(p, 'peer'), optionalInt(p, 'limit', 1, 500) ?? 100, optionalInt(p, 'beforeId', 1, Number.MAX_SAFE_INTEGER)),
      'im.markRead': async (p) => {
        await services.im.markRead(text(p, 'peer'));
        return null;
      },
      'im.typing': async (p) => {
        await services.im.typing(text(p, 'peer'), flag(p, 'active'));
        return null;
      },
      'overlay.status': async () => overlayStatusView(services.overlay),
      'overlay.lookup': async (p) => {
        const found = await services.overlay.lookupAor(text(p, 'aor'));
        const { responsible } = found;
        return { ...found, ms: Math.round(found.ms * 1000) / 1000, ...(responsible ? { responsible: { id: responsible.id, host: responsible.host, port: responsible.port } } : {}) };
      },
      'overlay.addBootstrap': async (p) => {
        await services.overlay.addBootstrap(text(p, 'address'));
        return overlayStatusView(services.overlay);
      },
      'call.dial': async (p) => services.calls.dial(text(p, 'to')),
      'call.answer': async (p) => services.calls.answer(text(p, 'id')),
      'call.decline': async (p) => services.calls.decline(text(p, 'id'), optionalFlag(p, 'toVoicemail') ?? false),
      'call.hangup': async (p) => services.calls.hangup(text(p, 'id')),
      'call.mute': async (p) => services.calls.mute(text(p, 'id'), flag(p, 'muted')),
      'call.hold': async (p) => services.calls.hold(text(p, 'id'), flag(p, 'hold')),
      'call.dtmf': async (p) => services.calls.dtmf(text(p, 'id'), text(p, 'digits')),
      'call.transfer': async (p) => services.calls.transfer(text(p, 'id'), text(p, 'to')),
      'call.list': async () => services.calls.list(),
      'call.history': async (p) => services.calls.history(optionalInt(p, 'limit', 1, 1000) ?? 100),
      'call.security': async () => services.calls.securityView(),
      'call.setSecurity': async (p) => services.calls.setAllowUnencryptedPhones(flag(p, 'allowUnencryptedPhones')),
      'buddy.list': async () => services.buddies.list(),
      'buddy.add': async (p) => services.buddies.add(text(p, 'aor'), optionalText(p, 'note')),
      'buddy.accept': async (p) => services.buddies.accept(text(p, 'aor')),
      'buddy.decline': async (p) => services.buddies.decline(text(p, 'aor')),
      'buddy.remove': async (p) => {
        await services.buddies.remove(text(p, 'aor'));
        return null;
      },
      'buddy.block': async (p) => services.buddies.block(text(p, 'aor')),
      'buddy.trustKey': async (p) => services.buddies.trustKey(text(p, 'aor')),
      'buddy.verify': async (p) => services.buddies.verify(text(p, 'aor'), flag(p, 'verified')),
      'presence.get': async () => services.presence.get(),
      'presence.set': async (p) =>
        services.presence.set({
          status: optionalStatus(p),
          note: optionalText(p, 'note'),
          awayAfterMinutes: optionalInt(p, 'awayAfterMinutes', 0, 1440),
        }),
      'presence.activity': async (p) => services.presence.activity(flag(p, 'idle')),
      'phones.add': async (p) => services.phones.add(text(p, 'name'), optionalText(p, 'user')),
      'phones.list': async () => services.phones.list(),
      'phones.remove': async (p) => {
        await services.phones.remove(text(p, 'id'));
        return services.phones.list();
      },
      'farm.status': async () => services.phones.farm.view(),
      'farm.configure': async (p) => services.phones.farm.configure(flag(p, 'enabled')),
      'farm.admit': async (p) => {
        const minutes = p.minutes;
        if (typeof minutes !== 'number') throw new ControlError('INVALID_ARGUMENT', '"minutes" must be a number (0 closes admission).');
        return services.phones.farm.admit(minutes);
      },
      'nat.status': async () => services.nat.view(),
      'nat.check': async () => {
        await services.nat.check();
        return services.nat.view();
      },
      'lan.status': async () => services.lan.view(),
      'lan.share': async (p) => services.lan.share(sharedConfigOrNull(p)),
      'lan.acceptOffer': async (p) => services.lan.acceptOffer(text(p, 'signerFingerprint')),
      'lan.stopFollowing': async (p) => services.lan.stopFollowing(text(p, 'signerFingerprint')),
      'nat.configure': async (p) => services.nat.setPortMapping(flag(p, 'portMapping')),
      'relay.status': async () => services.relay.view(),
      'relay.configure': async (p) => services.relay.configure(relayChange(p)),
      'dht.status': async () => services.dht.view(),
      'dht.configure': async (p) => services.dht.configure(flag(p, 'enabled')),
      'dht.lookup': async () => {
        await services.dht.lookupNow();
        return services.dht.view();
      },
      'voicemail.record': async (p) => services.voicemail.record(text(p, 'to')),
      'voicemail.finish': async (p) => services.voicemail.finish(text(p, 'id')),
      'voicemail.cancel': async (p) => services.voicemail.cancel(text(p, 'id')),
      'voicemail.play': async (p) => services.voicemail.play(int(p, 'messageId', 1, Number.MAX_SAFE_INTEGER)),
      'voicemail.stop': async () => services.voicemail.stopPlayback() ?? null,
      'requests.list': async () => services.strangers.requests(),
      'requests.accept': async (p) => {
        await services.strangers.accept(text(p, 'peer'));
        return null;
      },
      'requests.delete': async (p) => {
        await services.strangers.delete(text(p, 'peer'));
        return null;
      },
      'block.add': async (p) => services.strangers.block(text(p, 'aor')),
      'block.remove': async (p) => {
        await services.strangers.unblock(text(p, 'aor'));
        return null;
      },
      'block.list': async () => services.strangers.blocked(),
      'strangers.settings': async () => services.strangers.settings,
      'strangers.configure': async (p) =>
        services.strangers.configure({
          ...(p.strangerCalls !== undefined ? { strangerCalls: text(p, 'strangerCalls') as StrangerCalls } : {}),
          ...(p.strangerMailbox !== undefined ? { strangerMailbox: flag(p, 'strangerMailbox') } : {}),
        }),
      'voicemail.settings': async () => services.voicemail.view(),
      'voicemail.configure': async (p) => {
        const change: { enabled?: boolean; ringSeconds?: number } = {};
        if (p.enabled !== undefined) change.enabled = flag(p, 'enabled');
        const ring = optionalInt(p, 'ringSeconds', 1, 3600);
        if (ring !== undefined) change.ringSeconds = ring;
        await services.voicemail.setSettings(change);
        return services.voicemail.view();
      },
      'voicemail.recordGreeting': async () => services.voicemail.recordGreeting(),
      'voicemail.playGreeting': async () => {
        await services.voicemail.playGreeting();
        return null;
      },
      'voicemail.clearGreeting': async () => {
        await services.voicemail.clearGreeting();
        return services.voicemail.view();
      },
      'rescue.status': async () => services.rescue.view(),
      'rescue.configure': async (p) => services.rescue.configure(rescueChange(p)),
    };
  }

  async invoke<N extends CommandName>(name: N, params: ParamsOf<N>): Promise<ResultOf<N>> {
    const handler = Object.hasOwn(this.handlers, name) ? this.handlers[name] : undefined;
    if (!handler) throw new ControlError('UNKNOWN_COMMAND', `There is no command "${String(name)}".`);
    const p = params ?? {};
    if (typeof p !== 'object' || Array.isArray(p)) throw new ControlError('INVALID_ARGUMENT', 'Parameters must be an object.');
    try {
      return (await handler(p as Record<string, unknown>)) as ResultOf<N>;
    } catch (error) {
      throw toControlError(error);
    }
  }

  subscribe(since: { epoch: string; seq: number } | undefined, listener: (item: StreamItem) => void): () => void {
    return this.events.subscribe(since, listener);
  }
}

export function toControlError(error: unknown): ControlError {
  if (error instanceof ControlError) return error;
  if (error instanceof UserError) return new ControlError(error.code, error.message);
  return new ControlError('INTERNAL', `Something went wrong inside Peerdial: ${(error as Error)?.message ?? String(error)}`);
}

function text(p: Record<string, unknown>, key: string): string {
  const v = p[key];
  if (typeof v !== 'string') throw new ControlError('INVALID_ARGUMENT', `"${key}" must be a string.`);
  return v;
}

function optionalText(p: Record<string, unknown>, key: string): string | undefined {
  const v = p[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new ControlError('INVALID_ARGUMENT', `"${key}" must be a string.`);
  return v;
}

function optionalStatus(p: Record<string, unknown>): 'available' | 'away' | 'busy' | undefined {
  const v = optionalText(p, 'status');
  if (v !== undefined && v !== 'available' && v !== 'away' && v !== 'busy') throw new ControlError('INVALID_ARGUMENT', '"status" must be available, away or busy.');
  return v;
}

/** The settings' own checks are the service's; here only that `config` is an object or null. */
function sharedConfigOrNull(p: Record<string, unknown>): SharedConfig | null {
  const v = p.config;
  if (v === null) return null;
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new ControlError('INVALID_ARGUMENT', '"config" must be the settings to share, or null to stop sharing.');
  return v as SharedConfig;
}

/** Only the fields given, each of its type; the ranges are the rescue server's to check. */
function relayChange(p: Record<string, unknown>): Partial<RelaySettings> {
  const change: Partial<RelaySettings> = {};
  if (p.enabled !== undefined) change.enabled = flag(p, 'enabled');
  for (const key of ['maxMbit', 'maxGbPerDay'] as const) {
    const v = p[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new ControlError('INVALID_ARGUMENT', `"${key}" must be a number.`);
    change[key] = v;
  }
  return change;
}

function rescueChange(p: Record<string, unknown>): Partial<RescueSettings> {
  const change: Partial<RescueSettings> = {};
  if (p.enabled !== undefined) change.enabled = flag(p, 'enabled');
  for (const key of ['donateMbit', 'donateGbPerDay', 'cacheMb'] as const) {
    const v = p[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new ControlError('INVALID_ARGUMENT', `"${key}" must be a number.`);
    change[key] = v;
  }
  return change;
}

function flag(p: Record<string, unknown>, key: string): boolean {
  const v = p[key];
  if (typeof v !== 'boolean') throw new ControlError('INVALID_ARGUMENT', `"${key}" must be true or false.`);
  return v;
}

function optionalFlag(p: Record<string, unknown>, key: string): boolean | undefined {
  return p[key] === undefined || p[key] === null ? undefined : flag(p, key);
}

function int(p: Record<string, unknown>, key: string, min: number, max: number): number {
  const v = optionalInt(p, key, min, max);
  if (v === undefined) throw new ControlError('INVALID_ARGUMENT', `"${key}" must be a whole number from ${min} to ${max}.`);
  return v;
}

function optionalInt(p: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const v = p[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ControlError('INVALID_ARGUMENT', `"${key}" must be a whole number from ${min} to ${max}.`);
  }
  return v;
}

/** Runs a command and wraps its outcome in the adapters' envelope. */
export async function envelope<T>(work: () => Promise<T>): Promise<Envelope<T>> {
  try {
    return { ok: true, value: await work() };
  } catch (error) {
    return { ok: false, error: toControlError(error).toJSON() };
  }
}

