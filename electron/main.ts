// The Electron main process: one window, a tray, and the engine in a utilityProcess. It holds
// no application logic; everything the window does goes through the control API.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { app, BrowserWindow, ipcMain, Menu, nativeImage, Notification, safeStorage, session, Tray, type MenuItemConstructorOptions } from 'electron';
import { KEYCHAIN_SECRET_ENV, keychainSecret } from './keychain-secret.js';
import type { CallView, NodeStatus } from '../native/control/api.js';
import { bindIpcControl } from '../native/control/ipc-adapter.js';
import { withContentSecurityPolicy } from './content-security-policy.js';
import type { EngineChannelClient } from './engine-channel.js';
import { EngineProxy } from './engine-proxy.js';
import { IncomingCalls, incomingCallTitle } from './incoming-calls.js';
import { isCallAudioPermission } from './media-permission.js';
import { OnlineState } from './online-state.js';
import { trustedSenderCheck } from './sender-check.js';
import { dataDirArgument } from './shell-args.js';
import { drawTrayIcon, TRAY_ICON_SIZE } from './tray-icon.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const RENDERER_DIR = path.resolve(here, '../renderer');
const PRELOAD = path.join(here, 'preload.cjs');
const ENGINE_HOST = path.join(here, 'engine-host.js');

// Before the lock: the lock lives in userData, so two data dirs make two independent apps.
const dataDirOverride = dataDirArgument(process.argv);
if (dataDirOverride) app.setPath('userData', dataDirOverride);

let window: BrowserWindow | undefined;
let tray: Tray | undefined;
let quitting = false;
let engineStopped = false;
let online = false;
const callNotifications = new Map<string, Notification>();
const incomingCalls = new IncomingCalls({
  ringing: (call) => {
    notifyIncomingCall(call);
    updateTray();
  },
  stopped: (callId) => {
    callNotifications.get(callId)?.close();
    callNotifications.delete(callId);
    updateTray();
  },
});

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.on('second-instance', () => showWindow());
  app.on('web-contents-created', (_event, contents) => {
    // The window shows our one page; links never replace it and never open new windows.
    contents.on('will-navigate', (event) => event.preventDefault());
    contents.on('will-redirect', (event) => event.preventDefault());
    contents.on('will-attach-webview', (event) => event.preventDefault());
    contents.setWindowOpenHandler(() => ({ action: 'deny' }));
  });
  // The window hides to the tray on close, so the node keeps receiving; Quit is in the tray.
  app.on('window-all-closed', () => undefined);
  app.on('activate', () => showWindow());
  void app.whenReady().then(start);
}

function start(): void {
  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: withContentSecurityPolicy(details.responseHeaders) });
  });
  // Our window may use the microphone and pick a speaker, for calls; nothing else is granted.
  const ourWindow = (contents: Electron.WebContents | null) => contents !== null && contents === window?.webContents;
  session.defaultSession.setPermissionRequestHandler((contents, permission, callback, details) =>
    callback(ourWindow(contents) && isCallAudioPermission(permission, 'mediaTypes' in details ? (details.mediaTypes ?? []) : [])),
  );
  session.defaultSession.setPermissionCheckHandler((contents, permission) => ourWindow(contents) && isCallAudioPermission(permission));

  const onlineState = new OnlineState((isOnline) => {
    online = isOnline;
    updateTray();
  });
  const secret = keychainSecret(safeStorage, app.getPath('userData'));
  const engine = new EngineProxy({
    hostPath: ENGINE_HOST,
    dataDir: app.getPath('userData'),
    ...(secret ? { env: { [KEYCHAIN_SECRET_ENV]: secret } } : {}),
    onEngine: (client) => {
      if (client) return followEngine(client, onlineState);
      onlineState.engineStopped();
      incomingCalls.clear();
    },
  });
  engine.start();

  bindIpcControl({
    ipcMain,
    endpoint: engine.endpoint,
    audio: engine.endpoint,
    isTrustedSender: trustedSenderCheck({ windowContentsId: () => window?.webContents.id, rendererDir: RENDERER_DIR }),
  });

  createTray();
  updateTray();
  createWindow();

  app.on('before-quit', (event) => {
    if (engineStopped) return;
    event.preventDefault();
    if (quitting) return;
    quitting = true;
    void engine.stop(2_000).finally(() => {
      engineStopped = true;
      app.quit();
    });
  });
}

function followEngine(client: EngineChannelClient, onlineState: OnlineState): void {
  const reloadStatus = () =>
    client.invoke('node.status', {}).then(
      (status: NodeStatus) => onlineState.fromStatus(status),
      () => undefined,
    );
  const reloadCalls = () =>
    client.invoke('call.list', {}).then(
      (calls: CallView[]) => incomingCalls.fromList(calls),
      () => undefined,
    );
  client.subscribe(undefined, (item) => {
    if (onlineState.apply(item) === 'reload') void reloadStatus();
    if (incomingCalls.apply(item) === 'reload') void reloadCalls();
  });
}

function notifyIncomingCall(call: CallView): void {
  if (!Notification.isSupported()) return;
  const notification = new Notification({
    title: incomingCallTitle(call),
    body: call.peerName ? call.peer : 'Open Peerdial to answer or decline.',
    // A stranger's call under the "ask" policy: shown, never sounded.
    ...(call.request ? { silent: true, urgency: 'normal' as const } : { urgency: 'critical' as const }),
    timeoutType: 'never',
  });
  notification.on('click', () => showWindow());
  notification.show();
  callNotifications.set(call.id, notification);
}

function createWindow(): void {
  window = new BrowserWindow({
    width: 1000,
    height: 700,
    minWidth: 480,
    minHeight: 400,
    title: 'Peerdial',
    show: false,
    icon: trayImage(true),
    webPreferences: {
      preload: PRELOAD,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      webviewTag: false,
      spellcheck: true,
      // An incoming call must ring even when nobody has clicked in the window yet.
      autoplayPolicy: 'no-user-gesture-required',
    },
  });
  window.removeMenu();
  window.once('ready-to-show', () => window?.show());
  window.on('close', (event) => {
    if (quitting) return;
    event.preventDefault();
    window?.hide();
  });
  window.on('closed', () => (window = undefined));
  void window.loadFile(path.join(RENDERER_DIR, 'index.html'));
}

function showWindow(): void {
  if (!app.isReady()) return;
  if (!window) createWindow();
  if (window!.isMinimized()) window!.restore();
  window!.show();
  window!.focus();
}

function trayImage(online: boolean) {
  return nativeImage.createFromBitmap(drawTrayIcon(online), { width: TRAY_ICON_SIZE, height: TRAY_ICON_SIZE });
}

function createTray(): void {
  tray = new Tray(trayImage(false));
  tray.on('click', () => showWindow());
}

function updateTray(): void {
  if (!tray) return;
  const state = online ? 'Online' : 'Offline';
  const ringing = incomingCalls.ringing.map((call) => incomingCallTitle(call));
  tray.setImage(trayImage(online));
  tray.setToolTip(['Peerdial: ' + state, ...ringing].join('\n'));
  const calls: MenuItemConstructorOptions[] = ringing.map((label) => ({ label, click: () => showWindow() }));
  tray.setContextMenu(
    Menu.buildFromTemplate([
      { label: state, enabled: false },
      ...(calls.length ? [{ type: 'separator' as const }, ...calls] : []),
      { type: 'separator' },
      { label: 'Show Peerdial', click: () => showWindow() },
      { label: 'Quit', click: () => app.quit() },
    ]),
  );
}
