// The origin's control rule on a fake clock: a simulated site whose load is what it serves
// itself, fed to the controller once a second as the origin service does.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RedirectController, type ControlDecision } from '../../../native/proto/rescue/redirect-controller.js';

/** Load that the origin carries: its offered load times the share it does not redirect (plus a little per redirect). */
function loadOf(offered: number, p: number): number {
  return offered * (1 - p) + offered * p * 0.01;
}

class Site {
  now = 0;
  rescuers: Array<{ id: string; allowedRps: number }> = [];
  pending = 0;
  asked = 0;
  released: string[] = [];
  decisions: ControlDecision[] = [];
  constructor(
    readonly controller: RedirectController,
    /** Offered load is this many times capacity per 100 requests/s. */
    readonly loadPerHundredRps = 1,
  ) {}

  /** One second at `rps` offered requests per second, every request redirectable. */
  second(rps: number, grant = 40): ControlDecision {
    this.now += 1000;
    const offered = (rps / 100) * this.loadPerHundredRps;
    const decision = this.controller.tick({ now: this.now, load: loadOf(offered, this.controller.probability), redirectableRps: rps, rescuers: this.rescuers, pending: this.pending });
    // Rescuers asked answer within the second, each allowing `grant` requests/s.
    for (let i = 0; i < decision.ask; i++) this.rescuers.push({ id: `r${this.asked++}`, allowedRps: grant });
    for (const id of decision.release) {
      this.released.push(id);
      this.rescuers = this.rescuers.filter((r) => r.id !== id);
    }
    this.decisions.push(decision);
    return decision;
  }
}

describe('redirect controller', () => {
  it('stays normal and redirects nothing while the load is inside or below the band', () => {
    const site = new Site(new RedirectController({ low: 0.6, high: 0.8 }));
    for (let i = 0; i < 30; i++) {
      const d = site.second(70);
      assert.equal(d.state, 'normal');
      assert.equal(d.probability, 0);
      assert.equal(d.ask, 0);
    }
  });

  it('enters SOS above the high mark, asks for rescuers, and brings the load into the band', () => {
    const site = new Site(new RedirectController({ low: 0.6, high: 0.8 }));
    site.second(50);
    const first = site.second(500);
    assert.equal(first.state, 'sos');
    assert.ok(first.ask > 0, 'asks for rescuers at once');
    assert.equal(first.probability, 0, 'nothing to redirect to before a rescuer answers');
    for (let i = 0; i < 10; i++) site.second(500);
    const load = loadOf(5, site.controller.probability);
    assert.ok(load >= 0.6 && load <= 0.8, `load ${load.toFixed(2)} is in the band`);
    const allowed = site.rescuers.reduce((s, r) => s + r.allowedRps, 0);
    assert.ok(allowed >= site.controller.probability * 500 - 1e-9, 'p never asks more of the rescuers than they allow');
  });

  it('caps p at what the rescuers allow and asks for more when that is not enough', () => {
    const site = new Site(new RedirectController({ low: 0.6, high: 0.8, askBatch: 1 }));
    site.second(1000, 100);
    assert.equal(site.rescuers.length, 1);
    const second = site.second(1000, 100);
    // One rescuer of 100 req/s carries at most a tenth of 1000 req/s.
    assert.ok(Math.abs(second.probability - 0.1) < 1e-9, `p is ${second.probability}`);
    assert.equal(second.ask, 1, 'and more are asked for');
    for (let i = 0; i < 30; i++) site.second(1000, 100);
    assert.ok(site.rescuers.length >= 8, `kept asking until enough rescuers serve (${site.rescuers.length})`);
    const load = loadOf(10, site.controller.probability);
    assert.ok(load <= 0.8 + 1e-9, `load ${load.toFixed(2)} back under the high mark`);
  });

  it('lets p reach into the rescuers\' reserves (maxRps) when their allowances cannot carry what the band needs', () => {
    const controller = new RedirectController({ low: 0.6, high: 0.8 });
    // 100 allowed, 125 at most, 200 redirectable: p may reach 0.625, not only 0.5.
    const rescuers = [{ id: 'a', allowedRps: 100, maxRps: 125 }];
    const d = controller.tick({ now: 1000, load: 5, redirectableRps: 200, rescuers, pending: 1 });
    assert.ok(Math.abs(d.probability - 0.625) < 1e-9, `p is ${d.probability}`);
    const older = new RedirectController({ low: 0.6, high: 0.8 }).tick({ now: 1000, load: 5, redirectableRps: 200, rescuers: [{ id: 'a', allowedRps: 100 }], pending: 1 });
    assert.ok(Math.abs(older.probability - 0.5) < 1e-9, 'a rescuer that names no maxRps is held to its allowance');
    // More rescuers are still asked for: the redirects use more than 80% of what is allowed.
    const later = controller.tick({ now: 3000, load: 5, redirectableRps: 200, rescuers, pending: 0 });
    assert.ok(later.ask >= 1);
  });

  it('asks for more rescuers once the redirects use most of what the rescuers allow, before they queue', () => {
    const controller = new RedirectController({ low: 0.6, high: 0.8, askBatch: 5 });
    const rescuers = [{ id: 'a', allowedRps: 100 }];
    // Load inside the band: p holds, and the redirects use 90 of the 100 allowed.
    controller.tick({ now: 1000, load: 10, redirectableRps: 100, rescuers, pending: 0 });
    const p = controller.probability;
    assert.ok(p * 100 > 80, `redirects ${p * 100} per second`);
    const d = controller.tick({ now: 3000, load: 0.7, redirectableRps: 100, rescuers, pending: 0 });
    assert.ok(d.ask >= 1, 'asks while its rescuer is busy');
    const calm = controller.tick({ now: 5000, load: 0.7, redirectableRps: 50, rescuers, pending: 0 });
    assert.equal(calm.ask, 0, 'not when the redirects use half of what is allowed');
  });

  it('does not ask again before the cool-down while answers are pending', () => {
    const controller = new RedirectController({ low: 0.6, high: 0.8, askCooldownMs: 5000, askBatch: 5 });
    const input = { load: 3, redirectableRps: 300, rescuers: [] };
    const d1 = controller.tick({ now: 1000, ...input, pending: 0 });
    assert.ok(d1.ask > 0);
    assert.equal(controller.tick({ now: 2000, ...input, pending: 0 }).ask, 0, 'within the cool-down');
    assert.equal(controller.tick({ now: 6000, ...input, pending: 5 }).ask, 0, 'as many answers pending as one batch asks: none more');
    assert.ok(controller.tick({ now: 7000, ...input, pending: 0 }).ask > 0);
  });

  it('lowers p by at most maxDecrease a second when the load falls', () => {
    const site = new Site(new RedirectController({ low: 0.6, high: 0.8, maxDecrease: 0.1 }));
    for (let i = 0; i < 8; i++) site.second(800, 400);
    const high = site.controller.probability;
    assert.ok(high > 0.85);
    const d = site.second(100);
    assert.ok(high - d.probability <= 0.1 + 1e-9, `p fell from ${high} to ${d.probability}`);
  });

  it('releases spare rescuers, then all of them and returns to normal once the load has stayed below low', () => {
    const site = new Site(new RedirectController({ low: 0.6, high: 0.8, releaseAfterMs: 10_000 }));
    for (let i = 0; i < 10; i++) site.second(600);
    assert.equal(site.controller.current, 'sos');
    const serving = site.rescuers.length;
    assert.ok(serving >= 2);
    // The spike ends: a calm load well under the band.
    let back: number | undefined;
    for (let i = 0; i < 40 && back === undefined; i++) if (site.second(20).state === 'normal') back = i;
    assert.ok(back !== undefined, 'back to normal');
    assert.ok(back! >= 10, `not before the load stayed low for releaseAfterMs (after ${back} s)`);
    assert.equal(site.rescuers.length, 0, 'every rescuer released');
    assert.equal(site.released.length, serving);
    assert.ok(site.decisions.some((d) => d.changes.some((c) => /back to normal/.test(c))));
  });

  it('keeps spare rescuers while the load is inside the band, so a rising load need not warm new ones', () => {
    const controller = new RedirectController({ low: 0.6, high: 0.8, releaseAfterMs: 5_000 });
    const rescuers = [
      { id: 'a', allowedRps: 500 },
      { id: 'b', allowedRps: 500 },
    ];
    controller.tick({ now: 0, load: 2, redirectableRps: 100, rescuers, pending: 0 });
    for (let t = 1; t <= 30; t++) {
      const d = controller.tick({ now: t * 1000, load: 0.7, redirectableRps: 100, rescuers, pending: 0 });
      assert.deepEqual(d.release, [], `second ${t}`);
    }
    let released: string[] = [];
    for (let t = 31; t <= 40 && !released.length; t++) released = controller.tick({ now: t * 1000, load: 0.4, redirectableRps: 100, rescuers, pending: 0 }).release;
    assert.equal(released.length, 1, 'below the band, the one not needed goes');
  });

  it('with DNS round robin, redirects only what brings its own load into the band, and stays in SOS for the users rescuers take by name', () => {
    const controller = new RedirectController({ low: 0.6, high: 0.8, releaseAfterMs: 5_000 });
    const rescuers = [
      { id: 'a', allowedRps: 500 },
      { id: 'b', allowedRps: 500 },
    ];
    // 120 requests/s reach the origin by name (1.2 times its capacity); 900 reach the rescuers.
    let own = 0;
    for (let t = 1; t <= 30; t++) {
      own = loadOf(1.2, controller.probability);
      const d = controller.tick({ now: t * 1000, load: own + 9, ownLoad: own, redirectableRps: 120, rescuers, pending: 0 });
      assert.equal(d.state, 'sos', `second ${t}`);
      assert.deepEqual(d.release, [], `second ${t}: the rescuers are kept`);
    }
    assert.ok(own >= 0.6 && own <= 0.8, `the origin's own load ${own.toFixed(2)} is in the band, not emptied (p ${controller.probability.toFixed(2)})`);
  });

  it('with DNS round robin, asks for more rescuers when the ones in the name are full, though its own load is in the band', () => {
    const controller = new RedirectController({ low: 0.6, high: 0.8 });
    // Five rescuers whose allowances the users who came by name have used up (what is left for redirects).
    const full = Array.from({ length: 5 }, (_, i) => ({ id: `r${i}`, allowedRps: 2, maxRps: 8 }));
    const d = controller.tick({ now: 3000, load: 0.7 + 6, ownLoad: 0.7, redirectableRps: 100, rescuers: full, pending: 0 });
    assert.equal(d.probability, 0, 'its own load is in the band: it redirects nothing more');
    assert.ok(d.ask > 0, `asks for more: ${JSON.stringify(d)}`);
  });

  it('keeps p still inside the band, so noise does not move it', () => {
    const controller = new RedirectController({ low: 0.6, high: 0.8 });
    const rescuers = [{ id: 'a', allowedRps: 1000 }];
    controller.tick({ now: 1000, load: 2, redirectableRps: 200, rescuers, pending: 0 });
    const p = controller.probability;
    for (const [i, load] of [0.61, 0.79, 0.7, 0.65].entries()) controller.tick({ now: 2000 + i * 1000, load, redirectableRps: 200, rescuers, pending: 0 });
    assert.equal(controller.probability, p);
  });

  it('refuses a band that is not 0 < low < high', () => {
    assert.throws(() => new RedirectController({ low: 0.8, high: 0.6 }), RangeError);
    assert.throws(() => new RedirectController({ low: 0, high: 0.6 }), RangeError);
  });
});
