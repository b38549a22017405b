import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { DESKTOP_CSP, withContentSecurityPolicy } from '../../../electron/content-security-policy.js';
import { isRendererPage, trustedSenderCheck } from '../../../electron/sender-check.js';
import { dataDirArgument } from '../../../electron/shell-args.js';

const rendererDir = path.resolve('/opt/Peerdial/resources/app.asar/dist/renderer');
const page = pathToFileURL(path.join(rendererDir, 'index.html')).href;

describe('IPC sender check', () => {
  it('accepts our page and files under the renderer directory', () => {
    assert.equal(isRendererPage(page, rendererDir), true);
    assert.equal(isRendererPage(`${page}#/chat`, rendererDir), true);
    assert.equal(isRendererPage(pathToFileURL(path.join(rendererDir, 'assets/x.html')).href, rendererDir), true);
  });

  it('refuses other sites, other files and escapes from the renderer directory', () => {
    for (const url of [
      'https://evil.example/index.html',
      'http://127.0.0.1:5173/index.html',
      'about:blank',
      'data:text/html,<p>hi</p>',
      pathToFileURL('/etc/passwd').href,
      pathToFileURL(path.join(rendererDir, '../native/cli/main.js')).href,
      `file://${rendererDir}/%2e%2e/%2e%2e/secret.html`,
      `file://${rendererDir}/..%2f..%2fsecret.html`,
      pathToFileURL(`${rendererDir}-evil/index.html`).href,
      `file://remote-host${rendererDir}/index.html`,
      pathToFileURL(rendererDir).href,
      'not a url',
    ]) {
      assert.equal(isRendererPage(url, rendererDir), false, url);
    }
  });

  it('accepts only our own window, showing our page', () => {
    let windowId: number | undefined = 7;
    const check = trustedSenderCheck({ windowContentsId: () => windowId, rendererDir });
    const event = (id: number, url: string | undefined) => ({
      sender: { id, send: () => undefined, isDestroyed: () => false, once: () => undefined },
      senderFrame: url === undefined ? null : { url },
    });
    assert.equal(check(event(7, page)), true);
    assert.equal(check(event(8, page)), false);
    assert.equal(check(event(7, 'https://evil.example/')), false);
    assert.equal(check(event(7, undefined)), false);
    windowId = undefined;
    assert.equal(check(event(7, page)), false);
  });
});

describe('content security policy of the desktop window', () => {
  const directive = (name: string) => DESKTOP_CSP.split(';').map((d) => d.trim()).find((d) => d.startsWith(`${name} `));

  it('allows scripts only from our own files, never inline or eval', () => {
    assert.equal(directive('script-src'), "script-src 'self'");
    assert.equal(directive('default-src'), "default-src 'none'");
    assert.equal(directive('connect-src'), "connect-src 'none'");
    assert.equal(directive('object-src'), "object-src 'none'");
  });

  it('replaces any policy the response carried, whatever its letter case', () => {
    const headers = withContentSecurityPolicy({ 'content-security-policy': ["script-src *"], 'Content-Type': ['text/html'] });
    assert.deepEqual(headers, { 'Content-Type': ['text/html'], 'Content-Security-Policy': [DESKTOP_CSP] });
    assert.deepEqual(withContentSecurityPolicy(undefined), { 'Content-Security-Policy': [DESKTOP_CSP] });
  });
});

describe('desktop command-line flags', () => {
  it('reads --data-dir in both spellings, as an absolute path', () => {
    assert.equal(dataDirArgument(['electron', '.', '--data-dir', 'rel/dir']), path.resolve('rel/dir'));
    assert.equal(dataDirArgument(['electron', '.', '--data-dir=/tmp/p']), '/tmp/p');
    assert.equal(dataDirArgument(['electron', '.']), undefined);
    assert.equal(dataDirArgument(['electron', '.', '--data-dir']), undefined);
    assert.equal(dataDirArgument(['electron', '.', '--data-dir=']), undefined);
  });
});
