// End to end over the overlay: five real headless nodes form a Chord ring; two users find each
// other by name (sip:USER@peerdial) in their UIs, and the Network screen shows the ring.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import WebSocket from 'ws';
import type { OverlayStatus } from '../../native/control/api.js';
import { DEFAULT_CHORD_CONFIG } from '../../native/proto/overlay/chord-node.js';
import { idToHex, keyForAor } from '../../native/wire/overlay/node-id.js';
import { webSocketClient, type WebSocketFactory } from '../../renderer/src/lib/control-client.js';
import { launchBrowser, listItemWith, newAppPage, screenshot, type AppPage } from '../support/browser.js';
import { REPO_ROOT, removeDir, startNode, type NodeProcess } from '../support/node-process.js';
import { reachesDevice } from '../support/contacts.js';

const OVERLAY = 'peerdial';
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin'] as const;
type User = (typeof USERS)[number];
// Fast ring maintenance, so the ring forms and heals within seconds.
const CHORD_ENV = { PEERDIAL_CHORD: '{"stabilizeMs":300,"fixFingersMs":200,"checkPredecessorMs":500,"replicateMs":2000}' };
// A binding stored while the ring is still forming can be left on a node that is no longer
// responsible for it; the owner's next refresh puts it right, so refresh often.
const REFRESH_SECONDS = '10';

interface OverlayNode {
  user: User;
  process: NodeProcess;
  id: string;
  status(): Promise<OverlayStatus>;
  lookup(user: User): Promise<string[]>;
  /** The ID of the node this node's lookup names as responsible for `user`'s records. */
  responsibleFor(user: User): Promise<string | undefined>;
  close(): void;
}

let browser: Browser;
const ring = new Map<User, OverlayNode>();
const pages: AppPage[] = [];

function controlUrl(uiUrl: string): { url: string; origin: string } {
  const ui = new URL(uiUrl);
  return { url: `ws://${ui.host}/control?token=${ui.searchParams.get('token')}`, origin: ui.origin };
}

async function startOverlayNode(user: User, bootstrap?: number): Promise<OverlayNode> {
  const args = ['--refresh-seconds', REFRESH_SECONDS, ...(bootstrap ? ['--bootstrap', `127.0.0.1:${bootstrap}`] : [])];
  const process = await startNode({ user, args, env: CHORD_ENV });
  const id = /^overlay: \S+ as member, node ([0-9a-f]{40})$/m.exec(process.output())?.[1];
  assert.ok(id, `${user}'s node should print its ring ID:\n${process.output()}`);
  assert.match(process.output(), new RegExp(`^aor: sip:${user}@${OVERLAY}$`, 'm'));
  const { url, origin } = controlUrl(process.uiUrl);
  const factory: WebSocketFactory = (u) => new WebSocket(u, { headers: { origin } }) as unknown as ReturnType<WebSocketFactory>;
  const client = webSocketClient(url, factory);
  return {
    user,
    process,
    id,
    status: () => client.invoke('overlay.status', {}),
    lookup: (other) => client.invoke('overlay.lookup', { aor: other }).then((found) => found.contacts, () => []),
    responsibleFor: (other) => client.invoke('overlay.lookup', { aor: other }).then((found) => found.responsible?.id, () => undefined),
    close: () => client.close(),
  };
}

/** The IDs clockwise from the smallest, as BigInts and hex. */
function sortedIds(): string[] {
  return [...ring.values()].map((n) => n.id).sort((a, b) => (BigInt('0x' + a) < BigInt('0x' + b) ? -1 : 1));
}

function neighbours(id: string): { predecessor: string; successor: string } {
  const ids = sortedIds();
  const i = ids.indexOf(id);
  return { predecessor: ids[(i - 1 + ids.length) % ids.length], successor: ids[(i + 1) % ids.length] };
}

/** The node responsible for `user`'s records (the first ID at or after the key) and the next ones holding replicas. */
function holdersOf(user: User): string[] {
  const key = BigInt('0x' + idToHex(keyForAor(user, OVERLAY)));
  const ids = sortedIds();
  const first = Math.max(0, ids.findIndex((id) => BigInt('0x' + id) >= key));
  return Array.from({ length: DEFAULT_CHORD_CONFIG.replicas }, (_, k) => ids[(first + k) % ids.length]);
}

function nodeById(id: string): OverlayNode {
  return [...ring.values()].find((n) => n.id === id)!;
}

/**
 * Polls every node until each has the right predecessor and successor, has registered its user,
 * and finds every user's device: records stored while the ring was still forming may take a few
 * maintenance rounds to reach the node now responsible for them.
 */
async function waitForCorrectRing(timeoutMs = 40_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let wrong: string[] = [];
  while (Date.now() < deadline) {
    wrong = [];
    for (const node of ring.values()) {
      const status = await node.status();
      const expected = neighbours(node.id);
      if (status.role !== 'member') wrong.push(`${node.user} is ${status.role}`);
      if (status.successors[0]?.id !== expected.successor) wrong.push(`${node.user}'s successor is ${status.successors[0]?.id}`);
      if (status.predecessor?.id !== expected.predecessor) wrong.push(`${node.user}'s predecessor is ${status.predecessor?.id}`);
      if (status.registration.state !== 'registered') wrong.push(`${node.user} is ${status.registration.state} ${status.registration.error ?? ''}`);
    }
    if (wrong.length === 0) {
      for (const node of ring.values()) {
        for (const other of ring.values()) {
          const contacts = await node.lookup(other.user);
          if (!reachesDevice(contacts, other.process.sipContact!)) wrong.push(`${node.user} finds ${other.user} at [${contacts.join(', ')}]`);
        }
      }
    }
    if (wrong.length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  const holdings = await Promise.all(
    [...ring.values()].map(async (n) => `${n.user} ${n.id.slice(0, 8)} holds ${(await n.status()).records.map((r) => `${r.type}:${r.user}${r.primary ? '*' : ''}`).join(',')}`),
  );
  assert.fail(`the ring did not form within ${timeoutMs} ms: ${wrong.join('; ')}\n${holdings.join('\n')}`);
}

async function openApp(node: OverlayNode): Promise<Page> {
  const app = await newAppPage(browser);
  pages.push(app);
  const response = await app.page.goto(node.process.uiUrl);
  assert.equal(response?.status(), 200);
  await app.page.getByRole('textbox', { name: 'SIP address' }).waitFor({ timeout: 10_000 });
  return app.page;
}

async function openConversation(page: Page, typed: string, heading: string) {
  await page.getByRole('button', { name: 'Chat', exact: true }).click();
  await page.getByRole('textbox', { name: 'SIP address' }).fill(typed);
  await page.getByRole('button', { name: 'Open conversation' }).click();
  await page.getByRole('heading', { name: heading, exact: true }).waitFor();
}

async function send(page: Page, text: string) {
  const box = page.getByRole('textbox', { name: 'Message' });
  await box.fill(text);
  await box.press('Enter');
}

async function networkScreen(page: Page) {
  await page.getByRole('button', { name: 'Network', exact: true }).click();
  try {
    await page.getByRole('heading', { name: 'Network', exact: true }).waitFor({ timeout: 10_000 });
  } catch (error) {
    await screenshot(page, 'overlay-network-missing');
    const problems = pages.find((p) => p.page === page)?.problems ?? [];
    throw new Error(`the Network screen did not open (page problems: ${problems.join('; ') || 'none'})`, { cause: error });
  }
  return page.getByRole('region', { name: 'Network', exact: true });
}

describe('a five-node overlay, seen through two UIs', { timeout: 240_000 }, () => {
  before(async () => {
    const build = spawnSync(process.execPath, ['scripts/build.js'], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(build.status, 0, `npm run build failed:\n${build.stdout}\n${build.stderr}`);
    browser = await launchBrowser();
    const alice = await startOverlayNode('alice');
    ring.set('alice', alice);
    const joiners = await Promise.all(USERS.slice(1).map((user) => startOverlayNode(user, alice.process.sipPort)));
    for (const node of joiners) ring.set(node.user, node);
    await waitForCorrectRing();
  });

  after(async () => {
    await Promise.all(pages.map((p) => p.context.close()));
    await browser?.close();
    for (const node of ring.values()) node.close();
    await Promise.all([...ring.values()].map((n) => n.process.stop()));
    await Promise.all([...ring.values()].map((n) => removeDir(n.process.dataDir)));
  });

  test('alice and erin message each other by name, with no address of a device typed', async () => {
    const alice = await openApp(ring.get('alice')!);
    const erin = await openApp(ring.get('erin')!);
    await alice.getByText(`sip:alice@${OVERLAY}`).waitFor();

    await openConversation(alice, `sip:erin@${OVERLAY}`, `sip:erin@${OVERLAY}`);
    await send(alice, 'Hello Erin, found you by name');
    const aliceMessages = alice.getByRole('list', { name: 'Messages' });
    await listItemWith(aliceMessages, ['Hello Erin, found you by name', 'delivered']);

    // Erin's page only stayed open: the message arrives live, filed under alice's AOR. Alice is not
    // her buddy, so it waits under Requests until erin accepts it.
    const request = await listItemWith(erin.getByRole('list', { name: /^Requests/ }), [`sip:alice@${OVERLAY}`, 'Hello Erin, found you by name']);
    await request.getByRole('button', { name: /^Accept/ }).click();
    const fromAlice = await listItemWith(erin.getByRole('list', { name: 'Conversations' }), [`sip:alice@${OVERLAY}`, 'Hello Erin, found you by name']);
    await fromAlice.getByRole('button').click();
    await erin.getByRole('heading', { name: `sip:alice@${OVERLAY}`, exact: true }).waitFor();
    await send(erin, 'Hi Alice, the ring found you too');
    await listItemWith(erin.getByRole('list', { name: 'Messages' }), ['Hi Alice, the ring found you too', 'read']);

    await listItemWith(aliceMessages, ['Hi Alice, the ring found you too']);
    await listItemWith(alice.getByRole('list', { name: 'Conversations' }), [`sip:erin@${OVERLAY}`, 'Hi Alice, the ring found you too']);
    assert.equal(await aliceMessages.getByRole('listitem').count(), 2, 'one conversation by AOR, not one per device address');
    await screenshot(alice, 'overlay-chat-alice');
    await screenshot(erin, 'overlay-chat-erin');

    // A bare name stands for the AOR in this node's overlay.
    await openConversation(alice, 'bob', `sip:bob@${OVERLAY}`);
    await send(alice, 'Bob, just your name was enough');
    await listItemWith(aliceMessages, ['Bob, just your name was enough', 'delivered']);

    // A name nobody registered: the lookup finds no device, and the message says so.
    await openConversation(alice, `sip:nobody@${OVERLAY}`, `sip:nobody@${OVERLAY}`);
    await send(alice, 'Is anyone called nobody here?');
    await listItemWith(aliceMessages, ['Is anyone called nobody here?', /failed: Could not find the recipient: sip:nobody@peerdial has no device online/]);
    await screenshot(alice, 'overlay-chat-nobody');

    await alice.getByRole('button', { name: 'Settings' }).click();
    const settings = alice.getByRole('region', { name: 'Overlay', exact: true });
    await settings.getByText(`sip:alice@${OVERLAY}`).waitFor();
    assert.match((await settings.textContent()) ?? '', new RegExp(`Overlay name\\s*${OVERLAY}\\s*Address \\(AOR\\)\\s*sip:alice@${OVERLAY}`));
    await screenshot(alice, 'overlay-settings-alice');
  });

  test("alice's Network screen draws the ring, her neighbours and the records she keeps, and looks users up", async () => {
    const aliceNode = ring.get('alice')!;
    const page = pages[0]?.page ?? (await openApp(aliceNode));
    const network = await networkScreen(page);
    const expected = neighbours(aliceNode.id);

    await network.getByRole('img', { name: /Ring: this node and 4 other nodes/ }).waitFor({ timeout: 15_000 });
    assert.ok(await network.getByTitle(aliceNode.id, { exact: true }).first().isVisible(), 'the full node ID is in a tooltip');
    await network.getByText(aliceNode.id, { exact: true }).waitFor();

    const successors = network.getByRole('list', { name: 'Successors' });
    const first = successors.getByRole('listitem').first();
    assert.match((await first.textContent()) ?? '', new RegExp(`${expected.successor.slice(0, 8)}\\s*127\\.0\\.0\\.1:${nodeById(expected.successor).process.sipPort}`));
    assert.ok((await successors.getByRole('listitem').count()) >= 3, 'a successor list of at least 3');
    assert.ok((await network.getByRole('list', { name: 'Fingers' }).getByRole('listitem').count()) >= 1);
    // Each finger the node has asked shows how far it is (proximity neighbour selection keeps the nearest).
    await network.getByRole('list', { name: 'Fingers' }).getByText(/^\d+ ms$/).first().waitFor({ timeout: 15_000 });
    assert.match((await network.textContent()) ?? '', new RegExp(`Predecessor\\s*${expected.predecessor.slice(0, 8)}`));
    assert.match((await network.textContent()) ?? '', /Registration\s*registered/);
    // Loopback has no NAT: the connection card says so in words, with the address members see.
    const connection = network.getByRole('region', { name: 'Your connection' });
    await connection.getByText(/There is no NAT between you and the internet/).waitFor({ timeout: 15_000 });
    assert.match((await connection.textContent()) ?? '', new RegExp(`Public address\\s*127\\.0\\.0\\.1:${aliceNode.process.sipPort}`));

    // Alice keeps every user's records whose responsible node is her or one of the two before her
    // (the IDs are random, so that may be none); every record she reports is in the table.
    const records = network.getByRole('table', { name: 'Stored records' });
    const rowOf = (type: string, user: string, held: string) =>
      records.getByRole('row').filter({ hasText: new RegExp(`^\\s*${type}\\s*${user}\\s*`) }).filter({ hasText: held });
    for (const user of USERS.filter((u) => holdersOf(u).includes(aliceNode.id))) {
      const held = holdersOf(user)[0] === aliceNode.id ? 'primary' : 'replica';
      await rowOf('binding', user, held).filter({ hasText: `sip:${user}@127.0.0.1:${ring.get(user)!.process.sipPort}` }).first().waitFor({ timeout: 15_000 });
      await rowOf('name', user, held).first().waitFor();
    }
    const reported = (await aliceNode.status()).records;
    for (const record of reported) await rowOf(record.type, record.user, record.primary ? 'primary' : 'replica').first().waitFor();
    assert.equal(await records.getByRole('row').count(), reported.length + 1, 'one row per record, under one header row');
    await screenshot(page, 'overlay-network-alice');
    await records.scrollIntoViewIfNeeded();
    await screenshot(page, 'overlay-network-records');

    const carol = ring.get('carol')!;
    // A node that missed a reply under load is passed over for a while, and the node after it
    // answers for its keys: wait until alice's lookups reach carol's responsible node again.
    const lookupDeadline = Date.now() + 20_000;
    let named: string | undefined;
    while ((named = await aliceNode.responsibleFor('carol')) !== holdersOf('carol')[0] && Date.now() < lookupDeadline) {
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    if (named !== holdersOf('carol')[0]) {
      const views = await Promise.all([...ring.values()].map(async (n) => {
        const st = await n.status();
        return `${n.user} ${n.id.slice(0, 8)} names ${(await n.responsibleFor('carol'))?.slice(0, 8)}; pred ${st.predecessor?.id.slice(0, 8)} succ ${st.successors.map((x) => x.id.slice(0, 8)).join(',')} fingers ${st.fingers.map((f) => f.node.id.slice(0, 8)).join(',')} suspects ${JSON.stringify(st.suspects)}`;
      }));
      assert.fail(`alice's lookup of carol (key ${idToHex(keyForAor('carol', OVERLAY)).slice(0, 8)}) names ${named}, not ${holdersOf('carol')[0]}; ring ${sortedIds().map((x) => x.slice(0, 8)).join(' ')}\n${views.join('\n')}`);
    }
    await network.getByRole('textbox', { name: 'Look up' }).fill('carol');
    await network.getByRole('button', { name: 'Look up' }).click();
    const result = network.getByRole('region', { name: 'Lookup result' });
    // Carol's device is reached over TLS (the port her node printed), its certificate pinned by her record.
    const carolTls = /^sip over tls: [^\s]+:(\d+),/m.exec(carol.process.output())?.[1];
    const contact = result.getByRole('list', { name: 'Contacts' }).getByRole('listitem').filter({ hasText: `sip:carol@127.0.0.1:${carolTls}` });
    await contact.waitFor();
    assert.match((await contact.textContent()) ?? '', /TLS, certificate pinned/);
    assert.match((await result.textContent()) ?? '', new RegExp(`Address\\s*sip:carol@${OVERLAY}\\s*Responsible node\\s*${holdersOf('carol')[0].slice(0, 8)}`));
    assert.match((await result.textContent()) ?? '', /Route\s*\d+ hops?, [\d.]+ ms/);
    await result.scrollIntoViewIfNeeded();
    await screenshot(page, 'overlay-lookup-carol');

    await network.getByRole('textbox', { name: 'Look up' }).fill('sip:carol@elsewhere');
    await network.getByRole('button', { name: 'Look up' }).click();
    await network.getByRole('alert').filter({ hasText: 'is not a user of overlay peerdial' }).waitFor();
  });

  test('a bootstrap peer is checked inline and kept', async () => {
    const page = pages[0].page;
    const network = await networkScreen(page);
    const field = network.getByRole('textbox', { name: 'Bootstrap peer', exact: true });
    await field.fill('not an address');
    await network.getByRole('button', { name: 'Add peer' }).click();
    const refusal = network.getByRole('alert').filter({ hasText: 'is not HOST:PORT' });
    await refusal.waitFor();
    await refusal.scrollIntoViewIfNeeded();
    assert.equal(await field.inputValue(), 'not an address', 'the typed text stays to be corrected');
    assert.equal(await field.getAttribute('aria-invalid'), 'true');
    await screenshot(page, 'overlay-bootstrap-error');

    const bob = `127.0.0.1:${ring.get('bob')!.process.sipPort}`;
    await field.fill(bob);
    await network.getByRole('button', { name: 'Add peer' }).click();
    await network.getByRole('list', { name: 'Bootstrap peers' }).getByText(bob).waitFor();
    assert.equal(await field.inputValue(), '');
    assert.equal(await network.getByRole('alert').filter({ hasText: 'HOST:PORT' }).count(), 0);
    assert.deepEqual((await ring.get('alice')!.status()).bootstrap, [bob]);
  });

  test('the Network screen follows a node leaving the ring, live', async () => {
    const page = pages[0].page;
    const network = await networkScreen(page);
    const dave = ring.get('dave')!;
    dave.close();
    assert.equal(await dave.process.stop(), 0);
    ring.delete('dave');

    const drawing = network.getByRole('img', { name: /Ring: this node and 3 other nodes/ });
    await drawing.waitFor({ timeout: 30_000 });
    await network.getByRole('heading', { name: 'Network', exact: true }).scrollIntoViewIfNeeded();
    const short = dave.id.slice(0, 8);
    assert.equal(await network.getByRole('list', { name: 'Successors' }).getByText(short).count(), 0);
    assert.equal(await network.getByRole('list', { name: 'Fingers' }).getByText(short).count(), 0);
    await screenshot(page, 'overlay-network-after-leave');
    await waitForCorrectRing();
    await removeDir(dave.process.dataDir);

    assert.deepEqual(
      pages.flatMap((p) => p.problems),
      [],
    );
  });
});
