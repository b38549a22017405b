// The Electron main process: one window, a tray, and the engine in a utilityProcess. It holds
// no application logic; everything the window does goes through the control API.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { app, BrowserWindow, ipcMain, Menu, nativeImage, session, Tray } from 'electron';
import type { NodeStatus } from '../native/control/api.js';
import { bindIpcControl } from '../native/control/ipc-adapter.js';
import { withContentSecurityPolicy } from './content-security-policy.js';
import type { EngineChannelClient } from './engine-channel.js';
import { EngineProxy } from './engine-proxy.js';
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
  // Nothing is granted yet; calls (microphone) will ask for 'media' here.
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  session.defaultSession.setPermissionCheckHandler(() => false);

  const online = new OnlineState((isOnline) => updateTray(isOnline));
  const engine = new EngineProxy({
    hostPath: ENGINE_HOST,
    dataDir: app.getPath('userData'),
    onEngine: (client) => (client ? followStatus(client, online) : online.engineStopped()),
  });
  engine.start();

  bindIpcControl({
    ipcMain,
    endpoint: engine.endpoint,
    isTrustedSender: trustedSenderCheck({ windowContentsId: () => window?.webContents.id, rendererDir: RENDERER_DIR }),
  });

  createTray();
  updateTray(false);
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

function followStatus(client: EngineChannelClient, online: OnlineState): void {
  const reload = () =>
    client.invoke('node.status', {}).then(
      (status: NodeStatus) => online.fromStatus(status),
      () => undefined,
    );
  client.subscribe(undefined, (item) => {
    if (online.apply(item) === 'reload') void reload();
  });
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

function updateTray(online: boolean): void {
  if (!tray) return;
  const state = online ? 'Online' : 'Offline';
  tray.setImage(trayImage(online));
  tray.setToolTip(`Peerdial: ${state}`);
  tray.setContextMenu(
    Menu.buildFromTemplate([
      { label: state, enabled: false },
      { type: 'separator' },
      { label: 'Show Peerdial', click: () => showWindow() },
      { label: 'Quit', click: () => app.quit() },
    ]),
  );
}
